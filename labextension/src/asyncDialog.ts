/**
 * A Dialog whose accept button runs an async action and closes only when it succeeds, so a
 * validation problem or a server error stays visible in the dialog instead of being lost.
 */
import { Dialog } from '@jupyterlab/apputils';

export class AsyncAcceptDialog<T> extends Dialog<T> {
  private busy = false;
  private readonly buttonList: ReadonlyArray<Readonly<Dialog.IButton>>;
  private readonly defaultIndex: number;

  constructor(
    options: Partial<Dialog.IOptions<T>>,
    private readonly onAccept: () => Promise<boolean>,
    private readonly busyLabel: string
  ) {
    super(options);
    this.buttonList = options.buttons ?? [];
    this.defaultIndex = options.defaultButton ?? this.buttonList.length - 1;
  }

  resolve(index?: number): void {
    const chosen = index ?? this.defaultIndex;
    const button = this.buttonList[chosen];
    if (!button || !button.accept) {
      super.resolve(index);
      return;
    }
    if (this.busy) {
      return; // a double click or Enter while submitting must not submit twice
    }
    this.busy = true;
    const node = this.node.querySelector<HTMLButtonElement>(
      '.jp-Dialog-button.jp-mod-accept'
    );
    const label = node?.querySelector('.jp-Dialog-buttonLabel');
    const original = label?.textContent ?? '';
    if (node) {
      node.disabled = true;
      node.setAttribute('aria-busy', 'true');
    }
    if (label) {
      label.textContent = this.busyLabel;
    }
    this.onAccept()
      .catch(() => false)
      .then(ok => {
        this.busy = false;
        if (node) {
          node.disabled = false;
          node.removeAttribute('aria-busy');
        }
        if (label) {
          label.textContent = original;
        }
        if (ok) {
          super.resolve(chosen);
        }
      });
  }
}
