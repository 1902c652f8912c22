// Platforms in the OCI sense (os/architecture/variant): the host's, mapped from
// Node's names to Go's, a parser for `--platform os/arch[/variant]`, and the choice
// of one manifest from an index.
import { invalidArgument, notFound } from '../../errdefs/errors.js';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** Node's process.arch → GOARCH. */
const goArch: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
  loong64: 'loong64',
  mips: 'mips',
  mipsel: 'mipsle',
};

/** The platform this process runs on, in OCI names (`linux/amd64`, `linux/arm64/v8`, `linux/arm/v7`). */
export function hostPlatform(): Platform {
  const architecture = goArch[process.arch] ?? process.arch;
  const os = process.platform === 'win32' ? 'windows' : process.platform;
  if (architecture === 'arm64') return { os, architecture, variant: 'v8' };
  if (architecture === 'arm') {
    const v = (process.config.variables as Record<string, unknown>).arm_version;
    return { os, architecture, variant: `v${typeof v === 'string' || typeof v === 'number' ? v : '7'}` };
  }
  return { os, architecture };
}

/** Parses `os/arch[/variant]` (`linux/amd64`, `linux/arm/v7`). Fails INVALID_ARGUMENT naming the text. */
export function parsePlatform(text: string): Platform {
  const parts = typeof text === 'string' ? text.split('/') : [];
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9._-]+$/i.test(p))) {
    throw invalidArgument(`platform ${JSON.stringify(text)}: expected os/arch[/variant]`);
  }
  const [os, arch, variant] = parts.map((p) => p.toLowerCase());
  const architecture = arch === 'x86_64' || arch === 'x86-64' ? 'amd64' : arch === 'aarch64' ? 'arm64' : arch!;
  return variant === undefined ? { os: os!, architecture } : { os: os!, architecture, variant };
}

export function formatPlatform(p: Platform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

/** arm64 without a variant means v8; other architectures have no default variant. */
function normalVariant(p: Platform): string | undefined {
  if (p.variant !== undefined && p.variant !== '') return p.variant;
  return p.architecture === 'arm64' ? 'v8' : undefined;
}

/** Whether an index entry's platform serves `want` (a missing wanted variant matches any). */
export function platformMatches(entry: Platform, want: Platform): boolean {
  if (entry.os !== want.os || entry.architecture !== want.architecture) return false;
  const wv = normalVariant(want);
  return wv === undefined || normalVariant(entry) === wv;
}

export interface IndexEntry {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
}

/**
 * The first entry of an index serving `want`. Fails NOT_FOUND naming `subject`, the
 * wanted platform and the platforms the index offers.
 */
export function choosePlatform<T extends IndexEntry>(entries: readonly T[], want: Platform, subject: string): T {
  const found = entries.find((e) => e.platform !== undefined && platformMatches(e.platform, want));
  if (found !== undefined) return found;
  const offered = entries.filter((e) => e.platform !== undefined).map((e) => formatPlatform(e.platform!));
  throw notFound(
    `${subject}: no manifest for platform ${formatPlatform(want)} (available: ${offered.length === 0 ? 'none' : offered.join(', ')})`,
    {
      details: { platform: formatPlatform(want), available: offered },
    },
  );
}
