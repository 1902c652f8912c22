// Every notebook page in site order: the notebooks and `npm run figures` both walk this
// list, so a chart added here appears in both. The last page takes whatever the others leave.
import { calibrationPage } from './calibration-page.js';
import { crosscheckPage } from './crosscheck-page.js';
import { graphdriverPage } from './graphdriver-page.js';
import { historyPage } from './history-page.js';
import { lifecyclePage } from './lifecycle-page.js';
import { namespacesPage } from './namespaces-page.js';
import { networkPage } from './network-page.js';
import { otherPageOf } from './other-page.js';
import type { PageSpec } from './page-spec.js';
import { phasesPage } from './phases-page.js';
import { pullPage } from './pull-page.js';
import { overviewPage } from './overview-page.js';
import { tracingPage } from './tracing-page.js';
import { workloadPage } from './workload-page.js';

/** Every case none of these draws goes to the `other` page. */
export const otherPage: PageSpec = otherPageOf([
  overviewPage,
  lifecyclePage,
  workloadPage,
  graphdriverPage,
  namespacesPage,
  pullPage,
  networkPage,
  tracingPage,
  crosscheckPage,
]);

export const pages: readonly PageSpec[] = [
  overviewPage,
  phasesPage,
  lifecyclePage,
  workloadPage,
  graphdriverPage,
  namespacesPage,
  pullPage,
  networkPage,
  tracingPage,
  crosscheckPage,
  otherPage,
  historyPage,
  calibrationPage,
];

export function findPage(id: string): PageSpec | undefined {
  return pages.find((p) => p.id === id);
}
