/** Shared design tokens and base styles for every sbn-* element (custom properties pierce shadow roots). */
import { css } from 'lit';

export const base = css`
  :host {
    --sbn-bg: #0f1218;
    --sbn-panel: #171b24;
    --sbn-border: #2a3140;
    --sbn-text: #e6e9ef;
    --sbn-muted: #9aa3b2;
    --sbn-accent: #6cb6ff;
    --sbn-ok: #5fd08a;
    --sbn-warn: #f2c14e;
    --sbn-error: #ff6b6b;
    --sbn-radius: 8px;
    /* Native parts (scrollbars, form controls) drawn dark too, in every browser. */
    color-scheme: dark;
    font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif;
    color: var(--sbn-text);
    box-sizing: border-box;
  }
  *,
  *::before,
  *::after {
    box-sizing: inherit;
  }
  button {
    font: inherit;
    color: var(--sbn-text);
    background: #243047;
    border: 1px solid var(--sbn-border);
    border-radius: 6px;
    padding: 0.45em 0.9em;
    cursor: pointer;
    min-height: 2.5em;
  }
  button:hover:not(:disabled) {
    background: #2d3b57;
  }
  button:disabled {
    opacity: 0.5;
    cursor: not-allowed;
  }
  button.primary {
    background: #1f6feb;
    border-color: #1f6feb;
  }
  :focus-visible {
    outline: 2px solid var(--sbn-accent);
    outline-offset: 2px;
  }
  h2 {
    font-size: 1rem;
    margin: 0 0 0.6em;
    font-weight: 600;
  }
  .muted {
    color: var(--sbn-muted);
  }
  .sr-only {
    position: absolute;
    width: 1px;
    height: 1px;
    overflow: hidden;
    clip: rect(0 0 0 0);
    white-space: nowrap;
  }
`;
