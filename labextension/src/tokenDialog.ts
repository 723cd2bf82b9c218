/**
 * "API Token...": whether a token is set and where it comes from (the server's own hub token
 * or one the user pasted), paste / replace / clear it, and test it. The token is stored
 * server-side and never shown again in full; the page never keeps it.
 */
import { Dialog } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { PrimeHubClient } from './api';
import { ITokenInfo } from './core/jobs';

export class TokenForm extends Widget {
  private readonly current: HTMLElement;
  private readonly input: HTMLInputElement;
  private readonly result: HTMLElement;
  private readonly clearButton: HTMLButtonElement;

  constructor(
    private readonly client: PrimeHubClient,
    private readonly trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-PrimeHub-tokenForm');
    const intro = document.createElement('p');
    intro.className = 'jp-PrimeHub-help';
    intro.textContent = trans.__(
      'The API token authenticates job submission to the platform. It is stored on your server, not in the browser.'
    );
    this.node.appendChild(intro);

    this.current = document.createElement('p');
    this.current.className = 'jp-PrimeHub-tokenCurrent';
    this.current.setAttribute('role', 'status');
    this.current.textContent = trans.__('Checking…');
    this.node.appendChild(this.current);

    const row = document.createElement('div');
    row.className = 'jp-PrimeHub-field';
    const label = document.createElement('label');
    label.htmlFor = 'jp-PrimeHub-tokenInput';
    label.textContent = trans.__('New token');
    this.input = document.createElement('input');
    this.input.id = 'jp-PrimeHub-tokenInput';
    this.input.type = 'password';
    this.input.autocomplete = 'off';
    this.input.className = 'jp-mod-styled jp-PrimeHub-input';
    this.input.placeholder = trans.__('Paste a token to set or replace it');
    row.appendChild(label);
    row.appendChild(this.input);
    this.node.appendChild(row);

    const buttons = document.createElement('div');
    buttons.className = 'jp-PrimeHub-tokenButtons';
    buttons.appendChild(
      this.makeButton('save', trans.__('Save token'), () => this.save(), true)
    );
    buttons.appendChild(
      this.makeButton('test', trans.__('Test token'), () => this.test())
    );
    this.clearButton = this.makeButton(
      'clear',
      trans.__('Clear saved token'),
      () => this.clear()
    );
    buttons.appendChild(this.clearButton);
    this.node.appendChild(buttons);

    this.result = document.createElement('p');
    this.result.className = 'jp-PrimeHub-tokenResult';
    this.result.setAttribute('role', 'alert');
    this.node.appendChild(this.result);

    void this.load();
  }

  /** Enter in the token field saves the token instead of closing the dialog. */
  takeEnter(): boolean {
    if (document.activeElement === this.input && this.input.value.trim()) {
      void this.save();
      return true;
    }
    return false;
  }

  private makeButton(
    key: string,
    label: string,
    run: () => Promise<void>,
    accept = false
  ): HTMLButtonElement {
    const button = document.createElement('button');
    button.className = `jp-Button jp-mod-styled ${accept ? 'jp-mod-accept' : 'jp-mod-reject'} jp-PrimeHub-token-${key}`;
    button.textContent = label;
    button.addEventListener('click', event => {
      event.preventDefault();
      event.stopPropagation();
      void run();
    });
    return button;
  }

  private showInfo(info: ITokenInfo): void {
    const trans = this.trans;
    if (!info.set) {
      this.current.textContent = trans.__('No token is set.');
    } else if (info.source === 'user') {
      this.current.textContent = trans.__(
        'A token you saved is set (%1).',
        info.hint ?? '…'
      );
    } else {
      this.current.textContent = trans.__(
        "This server's own hub token is used (%1).",
        info.hint ?? '…'
      );
    }
    this.current.dataset.source = info.set ? (info.source ?? '') : 'none';
    this.clearButton.disabled = info.source !== 'user';
  }

  private report(message: string, ok: boolean): void {
    this.result.textContent = message;
    this.result.classList.toggle('jp-PrimeHub-ok', ok);
    this.result.classList.toggle('jp-PrimeHub-error', !ok);
  }

  private async run(action: () => Promise<void>): Promise<void> {
    try {
      await action();
    } catch (err) {
      this.report(err instanceof Error ? err.message : String(err), false);
    }
  }

  private load(): Promise<void> {
    return this.run(async () => this.showInfo(await this.client.tokenInfo()));
  }

  private save(): Promise<void> {
    return this.run(async () => {
      const token = this.input.value.trim();
      if (!token) {
        this.report(this.trans.__('Paste a token first.'), false);
        this.input.focus();
        return;
      }
      const info = await this.client.saveToken(token);
      this.input.value = ''; // the page does not keep the token
      this.showInfo(info);
      this.report(this.trans.__('Token saved.'), true);
    });
  }

  private clear(): Promise<void> {
    return this.run(async () => {
      this.showInfo(await this.client.clearToken());
      this.report(this.trans.__('Saved token cleared.'), true);
    });
  }

  private test(): Promise<void> {
    return this.run(async () => {
      this.report(this.trans.__('Testing…'), true);
      const result = await this.client.testToken();
      this.report(result.message, result.ok);
    });
  }
}

class TokenDialog extends Dialog<unknown> {
  constructor(
    options: Partial<Dialog.IOptions<unknown>>,
    private readonly form: TokenForm
  ) {
    super(options);
  }

  resolve(index?: number): void {
    if (this.form.takeEnter()) {
      return;
    }
    super.resolve(index);
  }
}

export async function showTokenDialog(
  client: PrimeHubClient,
  trans: TranslationBundle
): Promise<void> {
  const form = new TokenForm(client, trans);
  const dialog = new TokenDialog(
    {
      title: trans.__('PrimeHub API Token'),
      body: form,
      buttons: [Dialog.okButton({ label: trans.__('Close') })],
      focusNodeSelector: '#jp-PrimeHub-tokenInput'
    },
    form
  );
  dialog.addClass('jp-PrimeHub-tokenDialog');
  await dialog.launch();
}
