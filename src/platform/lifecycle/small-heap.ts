import { setFlagsFromString } from 'node:v8';

/**
 * Imported first by the entry, before the start-up allocates: V8 favours memory over speed in its
 * heap sizing (it gives back the young generation that the start-up and each burst of load grow,
 * about 30 MiB otherwise kept for good, and grows the old one in smaller steps). The service's hot
 * paths are bound by hashing and I/O, not by the collector. An operator's own choice of these flags
 * on node's command line or in NODE_OPTIONS wins.
 */
export function favourSmallHeap(nodeFlags: string): boolean {
  if (/--(no-)?optimize[-_]for[-_]size|--max[-_]semi[-_]space[-_]size/.test(nodeFlags)) return false;
  setFlagsFromString('--optimize-for-size');
  return true;
}

favourSmallHeap(`${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`);
