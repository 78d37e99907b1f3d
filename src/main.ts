/**
 * Entry point of the app page (index.html): builds the store and controller, hands them to
 * <sbn-app>, and joins the room when the page was opened from a room link.
 */
import { AppController } from './app/controller.ts';
import { AppStore } from './app/store.ts';
import { computeFor, connectRoom, loadOrigins } from './app/wiring.ts';
import { openIndexedDbRunStore } from './app/run-store/indexeddb.ts';
import './ui/sbn-app.ts';

// The page itself: dark background edge to edge (index.html says so too; the elements style only their
// own shadow roots, and a page embedding the app may not carry index.html's style).
document.documentElement.style.background = '#0f1218';
document.documentElement.style.colorScheme = 'dark';
document.body.style.margin = '0';

const store = new AppStore();
// Training computes in a worker (src/worker/); `?compute=main` keeps it on the page, for comparison.
const { provideBackend, createSession } = computeFor(location.href);
const controller = new AppController({
  store,
  connectRoom,
  provideBackend,
  createSession,
  origins: loadOrigins,
  runStore: openIndexedDbRunStore(),
  nav: {
    href: () => location.href,
    replace: (url) => history.replaceState(null, '', url),
  },
});

const app = document.querySelector('sbn-app') ?? document.body.appendChild(document.createElement('sbn-app'));
app.store = store;
app.controller = controller;
window.addEventListener('pagehide', () => controller.destroy());
void controller.boot();
