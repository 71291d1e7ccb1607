import { CurrentUser, OptionalAuth, Public, Roles, type AuthenticatedUser } from '@gatehouse/client';
import { Controller, Get, Post } from '@nestjs/common';
import { MessagePattern } from '@nestjs/microservices';

/** A sibling service's handlers: every one needs a gatehouse token unless @Public() or @OptionalAuth(). */
@Controller()
export class OrdersController {
  @Public()
  @Get('health')
  health(): { status: string } {
    return { status: 'ok' };
  }

  @Get('orders')
  myOrders(@CurrentUser() user: AuthenticatedUser): { userId: string; orders: string[] } {
    return { userId: user.userId, orders: [] };
  }

  /** A write: with the gh_access cookie (tokenFrom: 'cookie') it also needs the X-CSRF-Token header. */
  @Post('orders')
  place(@CurrentUser() user: AuthenticatedUser): { placedBy: string } {
    return { placedBy: user.userId };
  }

  /** Who is calling; email and username only in live mode (tokens carry neither). */
  @Get('me')
  me(@CurrentUser() user: AuthenticatedUser): { userId: string; email?: string; username?: string | null } {
    return { userId: user.userId, email: user.email, username: user.username };
  }

  /** Open to all; a signed-in caller is recognised (null without a token). */
  @OptionalAuth()
  @Get('catalog')
  catalog(@CurrentUser() user: AuthenticatedUser | null): { items: string[]; viewer: string | null } {
    return { items: ['tea', 'coffee'], viewer: user?.userId ?? null };
  }

  @Roles('admin')
  @Get('admin/report')
  report(@CurrentUser() user: AuthenticatedUser): { reportBy: string } {
    return { reportBy: user.userId };
  }

  /** Over RPC the caller puts its token in the payload: `{ accessToken, ... }`. */
  @MessagePattern('orders.list')
  list(@CurrentUser() user: AuthenticatedUser): { userId: string; orders: string[] } {
    return { userId: user.userId, orders: [] };
  }

  @OptionalAuth()
  @MessagePattern('catalog.list')
  catalogList(@CurrentUser() user: AuthenticatedUser | null): { items: string[]; viewer: string | null } {
    return this.catalog(user);
  }

  @Roles('admin')
  @MessagePattern('orders.purge')
  purge(@CurrentUser() user: AuthenticatedUser): { purgedBy: string } {
    return { purgedBy: user.userId };
  }
}
