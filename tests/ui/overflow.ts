/**
 * Measures horizontal overflow of the app page, run inside the page (Chromium or Firefox): the page,
 * every panel of <sbn-app>, and every cell of the peers table against the table's panel. Self-contained
 * (no imports, no closures) so it can be passed to page.evaluate as is.
 */
export interface OverflowReport {
  page: { scrollWidth: number; innerWidth: number; overflows: boolean };
  panels: { label: string; scrollWidth: number; clientWidth: number; overflows: boolean }[];
  /** Cells whose right edge passes the right edge of the panel that holds the peers table (cut off or scrolled away). */
  peerCells: { text: string; right: number; panelRight: number; clipped: boolean }[];
}

export function measureOverflow(): OverflowReport {
  const doc = document.documentElement;
  const app = document.querySelector('sbn-app')!.shadowRoot!;
  // Elements inside the panels scroll on their own only where meant to (the log's <pre>, uPlot's legend).
  const inner = (el: Element): Element[] => [el, ...(el.shadowRoot ? [...el.shadowRoot.querySelectorAll('*')].flatMap(inner) : [])];
  const panels = [...app.querySelectorAll('section.panel')].flatMap((section) => {
    const hosts = [section, ...[...section.children].flatMap(inner).filter((e) => e.tagName.startsWith('SBN-') || e.tagName === 'TABLE')];
    return hosts.map((el) => ({
      label: `${section.getAttribute('aria-label')}${el === section ? '' : ` > ${el.tagName.toLowerCase()}`}`,
      scrollWidth: el.scrollWidth,
      clientWidth: el.clientWidth,
      overflows: el.scrollWidth > el.clientWidth + 1,
    }));
  });
  const peersSection = app.querySelector('section[aria-label="Peers"]')!;
  const panelRight = peersSection.getBoundingClientRect().right;
  const cells = [...peersSection.querySelector('sbn-peers')!.shadowRoot!.querySelectorAll('td')];
  return {
    page: { scrollWidth: doc.scrollWidth, innerWidth: window.innerWidth, overflows: doc.scrollWidth > window.innerWidth },
    panels,
    peerCells: cells.map((td) => {
      const right = td.getBoundingClientRect().right;
      return { text: (td.textContent ?? '').trim(), right, panelRight, clipped: right > panelRight + 0.5 };
    }),
  };
}
