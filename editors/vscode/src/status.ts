// The status bar item: indexing progress while the server indexes (click: cancel), then the Node
// apps the server is attached to (click: list them, reload what is outdated).

import * as vscode from 'vscode';
import type { ProgressToken, WorkDoneProgressBegin, WorkDoneProgressEnd, WorkDoneProgressReport } from 'vscode-languageclient';

/** One entry of `modgraph.listRuntimes`. */
export interface Runtime {
  pid: number;
  cwd?: string;
  argv?: string[];
  node?: string;
  modules?: number;
}

type Phase =
  | { kind: 'starting' }
  | { kind: 'indexing'; token: ProgressToken; title: string; message?: string; percentage?: number }
  | { kind: 'ready' }
  | { kind: 'stopped' }
  | { kind: 'error'; label: string; detail: string };

export class StatusItem implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private phase: Phase = { kind: 'starting' };
  private list: Runtime[] = [];
  private lastEnd = '';
  private flashed: string | undefined;

  constructor(private readonly actions: { cancel(token: ProgressToken): void }) {
    this.item = vscode.window.createStatusBarItem('modgraph.status', vscode.StatusBarAlignment.Left, 10);
    this.item.name = 'modgraph';
    this.render();
    this.item.show();
  }

  starting(): void {
    this.phase = { kind: 'starting' };
    this.render();
  }

  running(): void {
    if (this.phase.kind === 'starting' || this.phase.kind === 'stopped' || this.phase.kind === 'error') {
      this.phase = { kind: 'ready' };
    }
    this.render();
  }

  stopped(): void {
    if (this.phase.kind !== 'error') {
      this.phase = { kind: 'stopped' };
    }
    this.list = [];
    this.render();
  }

  showError(label: string, detail: string): void {
    this.phase = { kind: 'error', label, detail };
    this.render();
  }

  /** An error the server logged: shown in the tooltip until the next one. */
  flash(message: string): void {
    this.flashed = message;
    this.render();
  }

  /** A `$/progress` notification of the server. */
  progress(token: ProgressToken, value: WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd): void {
    switch (value.kind) {
      case 'begin':
        this.phase = { kind: 'indexing', token, title: value.title, message: value.message, percentage: value.percentage };
        break;
      case 'report':
        if (this.phase.kind === 'indexing' && this.phase.token === token) {
          this.phase.message = value.message ?? this.phase.message;
          this.phase.percentage = value.percentage ?? this.phase.percentage;
        }
        break;
      case 'end':
        if (this.phase.kind === 'indexing' && this.phase.token === token) {
          this.phase = { kind: 'ready' };
          this.lastEnd = value.message ?? '';
        }
        break;
    }
    this.render();
  }

  runtimes(list: Runtime[]): void {
    this.list = list;
    this.render();
  }

  private render(): void {
    const item = this.item;
    item.backgroundColor = undefined;
    const tooltip = new vscode.MarkdownString(undefined, true);
    switch (this.phase.kind) {
      case 'starting':
        item.text = '$(loading~spin) modgraph';
        tooltip.appendMarkdown('modgraph: starting the server');
        item.command = 'modgraph.showOutput';
        break;
      case 'stopped':
        item.text = '$(circle-slash) modgraph';
        tooltip.appendMarkdown('modgraph: the server is not running. Click to restart it.');
        item.command = 'modgraph.restartServer';
        break;
      case 'error':
        item.text = `$(error) modgraph: ${this.phase.label}`;
        item.backgroundColor = new vscode.ThemeColor('statusBarItem.errorBackground');
        tooltip.appendText(this.phase.detail);
        tooltip.appendMarkdown('\n\nClick to show the output.');
        item.command = 'modgraph.showOutput';
        break;
      case 'indexing': {
        const percent = this.phase.percentage !== undefined ? ` ${this.phase.percentage}%` : '';
        item.text = `$(sync~spin) modgraph: ${this.phase.title.toLowerCase()}${percent}`;
        tooltip.appendText(`modgraph: ${this.phase.title}${this.phase.message ? ` (${this.phase.message})` : ''}`);
        tooltip.appendMarkdown('\n\nClick to cancel.');
        const token = this.phase.token;
        item.command = {
          title: 'Cancel indexing',
          command: 'modgraph.cancelIndexing',
          arguments: [token],
        };
        break;
      }
      case 'ready': {
        const count = this.list.length;
        if (count === 0) {
          item.text = '$(type-hierarchy) modgraph';
          tooltip.appendText(`modgraph: ${this.lastEnd || 'ready'}`);
          tooltip.appendMarkdown('\n\nNo Node app is attached (start one with `modgraph run -- node app.mjs`). Click to list attached apps.');
        } else {
          item.text = `$(sync) ${count} ${count === 1 ? 'runtime' : 'runtimes'}`;
          tooltip.appendMarkdown(`modgraph: attached to ${count} Node ${count === 1 ? 'app' : 'apps'}:\n`);
          for (const runtime of this.list) {
            tooltip.appendMarkdown(`\n- node ${runtime.pid}: `);
            tooltip.appendText(`${(runtime.argv ?? []).join(' ')} in ${runtime.cwd ?? '?'}`);
          }
          tooltip.appendMarkdown('\n\nClick to reload what is outdated or see the list.');
        }
        item.command = 'modgraph.showRuntimes';
        break;
      }
    }
    if (this.flashed) {
      tooltip.appendMarkdown('\n\n---\n\nLast error: ');
      tooltip.appendText(this.flashed);
    }
    item.tooltip = tooltip;
  }

  /** Registered by the extension: the command the indexing state's click runs. */
  cancel(token: ProgressToken): void {
    this.actions.cancel(token);
  }

  dispose(): void {
    this.item.dispose();
  }
}
