/** The mails gatehouse sends, rendered as text and HTML. Links are built from APP_URL only. */
export type MailKind =
  | 'verify_email'
  | 'account_exists'
  | 'username_taken'
  | 'password_reset'
  | 'password_changed'
  | 'mfa_enabled'
  | 'mfa_disabled'
  | 'recovery_code_used'
  | 'email_change'
  | 'email_change_requested'
  | 'email_in_use'
  | 'account_deletion';

export interface RenderedMail {
  kind: MailKind;
  subject: string;
  text: string;
  html: string;
}

const escapeHtml = (value: string): string =>
  value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

function page(paragraphs: string[], action?: { label: string; url: string }): string {
  const body = paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`).join('\n    ');
  const button = action
    ? `\n    <p><a href="${escapeHtml(action.url)}" style="display:inline-block;padding:10px 16px;background:#1f2937;color:#ffffff;text-decoration:none;border-radius:4px">${escapeHtml(action.label)}</a></p>\n    <p style="font-size:12px;color:#6b7280">Or paste this link into your browser: ${escapeHtml(action.url)}</p>`
    : '';
  return `<!doctype html>\n<html>\n  <body style="font-family:system-ui,sans-serif;line-height:1.5;color:#111827">\n    ${body}${button}\n  </body>\n</html>\n`;
}

const minutes = (seconds: number): string =>
  seconds % 3600 === 0 ? `${seconds / 3600} hour${seconds === 3600 ? '' : 's'}` : `${Math.round(seconds / 60)} minutes`;

export function verifyEmailMail(link: string, ttlSeconds: number): RenderedMail {
  const lines = [
    'Please confirm your email address.',
    `The link works once and expires in ${minutes(ttlSeconds)}.`,
    'If you did not create an account, you can ignore this mail.',
  ];
  return {
    kind: 'verify_email',
    subject: 'Confirm your email address',
    text: `${lines[0]}\n\n${link}\n\n${lines[1]}\n${lines[2]}\n`,
    html: page(lines, { label: 'Confirm my address', url: link }),
  };
}

/**
 * The link of a contested sign-up: two sign-ups claimed this unverified address, so neither
 * password counts; whoever proves the mailbox chooses one.
 */
export function verifyEmailChoosePasswordMail(link: string, ttlSeconds: number): RenderedMail {
  const lines = [
    'Please confirm your email address and choose your password.',
    'More than one sign-up was made with this address before it was confirmed, so no password has been kept: you will choose one when you open the link.',
    `The link works once and expires in ${minutes(ttlSeconds)}.`,
    'If you did not create an account, you can ignore this mail.',
  ];
  return {
    kind: 'verify_email',
    subject: 'Confirm your email address and choose a password',
    text: `${lines[0]}\n${lines[1]}\n\n${link}\n\n${lines[2]}\n${lines[3]}\n`,
    html: page(lines, { label: 'Confirm and choose a password', url: link }),
  };
}

/** A sign-up whose username was taken: told to the address only, so the answer reveals nothing. */
export function usernameTakenMail(username: string): RenderedMail {
  const lines = [
    `Someone, probably you, tried to create an account with this email address and the username "${username}", but that username is taken.`,
    'No account was created. Sign up again with another username, or without one.',
    'If it was not you, you can ignore this mail.',
  ];
  return {
    kind: 'username_taken',
    subject: 'That username is taken',
    text: `${lines[0]}\n\n${lines[1]}\n${lines[2]}\n`,
    html: page(lines),
  };
}

export function accountExistsMail(resetLink: string): RenderedMail {
  const lines = [
    'Someone tried to create an account with this email address, but it already has one.',
    'If that was you, sign in instead. If you forgot your password, you can reset it:',
    'If it was not you, you can ignore this mail: nothing has changed.',
  ];
  return {
    kind: 'account_exists',
    subject: 'You already have an account',
    text: `${lines[0]}\n\n${lines[1]}\n${resetLink}\n\n${lines[2]}\n`,
    html: page(lines, { label: 'Reset my password', url: resetLink }),
  };
}

export function passwordResetMail(link: string, ttlSeconds: number): RenderedMail {
  const lines = [
    'A password reset was requested for your account.',
    `The link works once and expires in ${minutes(ttlSeconds)}. Asking again voids this link.`,
    'If you did not ask for it, ignore this mail: your password stays as it is.',
  ];
  return {
    kind: 'password_reset',
    subject: 'Reset your password',
    text: `${lines[0]}\n\n${link}\n\n${lines[1]}\n${lines[2]}\n`,
    html: page(lines, { label: 'Choose a new password', url: link }),
  };
}

export function passwordChangedMail(forgotLink: string): RenderedMail {
  const lines = [
    'The password of your account was just changed, and your other sessions were signed out.',
    'If that was not you, reset your password now and review your sessions:',
  ];
  return {
    kind: 'password_changed',
    subject: 'Your password was changed',
    text: `${lines[0]}\n\n${lines[1]}\n${forgotLink}\n`,
    html: page(lines, { label: 'Reset my password', url: forgotLink }),
  };
}

/** Whoever turned the second factor on may lock the owner out: the mailbox is told at once. */
export function mfaEnabledMail(forgotLink: string): RenderedMail {
  const lines = [
    'A second factor (an authenticator app) was just turned on for your account: signing in now also needs a code from that app, or one of your recovery codes.',
    'Your other sessions were signed out.',
    'If that was not you, reset your password now and ask an administrator to turn the second factor off:',
  ];
  return {
    kind: 'mfa_enabled',
    subject: 'Second factor turned on',
    text: `${lines[0]}\n${lines[1]}\n\n${lines[2]}\n${forgotLink}\n`,
    html: page(lines, { label: 'Reset my password', url: forgotLink }),
  };
}

/** `byAdmin`: an administrator (or a trusted service) reset it, not the user. */
export function mfaDisabledMail(forgotLink: string, byAdmin: boolean): RenderedMail {
  const lines = [
    byAdmin ? 'An administrator turned off the second factor of your account.' : 'The second factor of your account was just turned off.',
    'Signing in now needs only your password, and your recovery codes no longer work. You can turn a second factor on again in your account settings.',
    'If you did not ask for this, reset your password now:',
  ];
  return {
    kind: 'mfa_disabled',
    subject: 'Second factor turned off',
    text: `${lines[0]}\n${lines[1]}\n\n${lines[2]}\n${forgotLink}\n`,
    html: page(lines, { label: 'Reset my password', url: forgotLink }),
  };
}

/** Sent on each use, with the count left, so a stolen code is noticed and a dwindling set renewed. */
export function recoveryCodeUsedMail(remaining: number, forgotLink: string): RenderedMail {
  const left =
    remaining === 0
      ? 'You have no recovery codes left: generate a new set in your account settings now.'
      : `You have ${remaining} recovery code${remaining === 1 ? '' : 's'} left.${remaining <= 3 ? ' Generate a new set in your account settings soon.' : ''}`;
  const lines = [
    'A recovery code was just used to sign in to your account in place of your authenticator app. Each code works once.',
    left,
    'If that was not you, reset your password now and generate new recovery codes:',
  ];
  return {
    kind: 'recovery_code_used',
    subject: `A recovery code was used (${remaining} left)`,
    text: `${lines[0]}\n${lines[1]}\n\n${lines[2]}\n${forgotLink}\n`,
    html: page(lines, { label: 'Reset my password', url: forgotLink }),
  };
}

/** To the new address of a requested change: the link that makes it the account's login. */
export function emailChangeMail(link: string, ttlSeconds: number): RenderedMail {
  const lines = [
    'Please confirm that this address should become the sign-in address of your account.',
    `The link works once and expires in ${minutes(ttlSeconds)}. Until it is used, your old address stays the sign-in address.`,
    'If you did not ask for this, you can ignore this mail: nothing changes.',
  ];
  return {
    kind: 'email_change',
    subject: 'Confirm your new email address',
    text: `${lines[0]}\n\n${link}\n\n${lines[1]}\n${lines[2]}\n`,
    html: page(lines, { label: 'Confirm my new address', url: link }),
  };
}

/** To the current address: a change was asked for; sent whether or not the new address is free. */
export function emailChangeRequestedMail(newEmail: string, forgotLink: string): RenderedMail {
  const lines = [
    `A change of the sign-in address of your account to ${newEmail} was requested. It takes effect only once confirmed from that mailbox; until then this address stays the sign-in address.`,
    'If that was not you, someone may know your password: reset it now, which also ends every session.',
  ];
  return {
    kind: 'email_change_requested',
    subject: 'A change of your email address was requested',
    text: `${lines[0]}\n\n${lines[1]}\n${forgotLink}\n`,
    html: page(lines, { label: 'Reset my password', url: forgotLink }),
  };
}

/** To the owner of an address another account asked to move to: told to the mailbox only. */
export function emailInUseMail(): RenderedMail {
  const lines = [
    'Someone signed in to another account asked to make this email address its sign-in address, but it already belongs to your account.',
    'Nothing has changed, and your account is untouched. If it was you, use your existing account or another address.',
  ];
  return {
    kind: 'email_in_use',
    subject: 'Someone tried to use your email address',
    text: `${lines[0]}\n\n${lines[1]}\n`,
    html: page(lines),
  };
}

/** To the account's address when its deletion is requested: when it will be erased. */
export function accountDeletionMail(eraseAfter: Date): RenderedMail {
  const when = eraseAfter.getTime() <= Date.now() + 60_000 ? 'now' : `on ${eraseAfter.toISOString().replace(/\.\d{3}Z$/, 'Z')} (UTC)`;
  const lines = [
    'The deletion of your account was requested. Every session was signed out and the account can no longer be used.',
    `Its data will be erased ${when}; after that nothing of it remains but anonymous audit entries.`,
    'If that was not you, reply to this mail or contact the service operator at once.',
  ];
  return {
    kind: 'account_deletion',
    subject: 'Your account is being deleted',
    text: `${lines[0]}\n${lines[1]}\n\n${lines[2]}\n`,
    html: page(lines),
  };
}
