// What makes a case an outside cross-check's agreement case, and how far apart its two
// figures may be: shared by the suites (crosscheck.ts) and the notebooks, so it imports nothing.

/** How far apart (relative) the outside and berth medians may be before the run warns. */
export const AGREEMENT_TOLERANCE = 0.1;

const SUFFIX = '-crosscheck';

/** The case name of the agreement case of berth case `name`. */
export function agreementName(name: string): string {
  return `${name}${SUFFIX}`;
}

/** Whether a case name is an agreement case's. */
export function isAgreementCase(name: string): boolean {
  return name.endsWith(SUFFIX);
}

/** Whether an agreement ratio (outside ÷ berth) is within the tolerance of 1. */
export function agrees(ratio: number): boolean {
  return Math.abs(ratio - 1) <= AGREEMENT_TOLERANCE;
}
