/**
 * PrimeHub for JupyterLab: the "PrimeHub" main menu (API Token..., Submit Notebook as Job...,
 * Jobs), a notebook toolbar button, a file-browser "Submit as Job" entry, the Jobs panel and
 * notifications when submitted jobs end. Thin glue: logic lives in core/, widgets in their
 * own modules.
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  Dialog,
  ICommandPalette,
  MainAreaWidget,
  Notification,
  showDialog,
  showErrorMessage,
  ToolbarButton
} from '@jupyterlab/apputils';
import { IFileBrowserFactory } from '@jupyterlab/filebrowser';
import { IMainMenu } from '@jupyterlab/mainmenu';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import {
  ITranslator,
  nullTranslator,
  TranslationBundle
} from '@jupyterlab/translation';
import { LabIcon } from '@jupyterlab/ui-components';
import { DisposableDelegate } from '@lumino/disposable';
import { Menu } from '@lumino/widgets';

import { PrimeHubClient } from './api';
import {
  describeEndedEarly,
  describeError,
  IJob,
  IJobRequest
} from './core/jobs';
import { ICellLike } from './core/parameters';
import { JobsModel } from './jobsModel';
import { IJobActions, JobsPanel } from './jobsPanel';
import { JobLogView } from './logView';
import { SchedulesView } from './schedulesView';
import { showSubmitDialog } from './submit';
import { showTokenDialog } from './tokenDialog';

const PLUGIN_ID = 'jupyterlab-primehub:plugin';

export namespace CommandIDs {
  export const apiToken = 'primehub:api-token';
  export const submitNotebook = 'primehub:submit-notebook';
  export const submitFile = 'primehub:submit-file';
  export const openJobs = 'primehub:open-jobs';
}

export const jobsIcon = new LabIcon({
  name: 'primehub:jobs',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
    '<path class="jp-icon3" fill="#616161" d="M10 4h4a2 2 0 0 1 2 2v1h3a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2H5a2 ' +
    '2 0 0 1-2-2V9a2 2 0 0 1 2-2h3V6a2 2 0 0 1 2-2zm0 2v1h4V6h-4zm-.5 4.5v7l6-3.5-6-3.5z"/></svg>'
});

/** The notebook at `path`: its cells and kernel, from the open widget or from disk. */
async function readNotebook(
  app: JupyterFrontEnd,
  path: string,
  panel: NotebookPanel | null
): Promise<{
  cells: ICellLike[];
  kernel: string | null;
  dirty: boolean;
  save?: () => Promise<void>;
}> {
  if (panel) {
    await panel.context.ready;
    const model = panel.content.model;
    const json = model ? (model.toJSON() as any) : { cells: [], metadata: {} };
    const dirty = !!model?.dirty;
    return {
      cells: json.cells ?? [],
      kernel:
        json.metadata?.kernelspec?.name ??
        panel.sessionContext.kernelPreference.name ??
        null,
      dirty,
      save: async () => {
        if (panel.context.model.dirty) {
          await panel.context.save();
        }
      }
    };
  }
  const file = await app.serviceManager.contents.get(path, {
    type: 'notebook',
    content: true
  });
  const content = file.content as any;
  return {
    cells: content?.cells ?? [],
    kernel: content?.metadata?.kernelspec?.name ?? null,
    dirty: false
  };
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'PrimeHub menu, Submit Notebook as Job, jobs panel and API token for JupyterLab.',
  autoStart: true,
  requires: [IMainMenu, INotebookTracker],
  optional: [
    ICommandPalette,
    IFileBrowserFactory,
    ILayoutRestorer,
    ISettingRegistry,
    ITranslator
  ],
  activate: (
    app: JupyterFrontEnd,
    mainMenu: IMainMenu,
    notebooks: INotebookTracker,
    palette: ICommandPalette | null,
    browserFactory: IFileBrowserFactory | null,
    restorer: ILayoutRestorer | null,
    settingRegistry: ISettingRegistry | null,
    translator: ITranslator | null
  ) => {
    const trans: TranslationBundle = (translator ?? nullTranslator).load(
      'jupyterlab_primehub'
    );
    const client = new PrimeHubClient(app.serviceManager.serverSettings);
    const model = new JobsModel(client);
    const schedules = new SchedulesView(
      client,
      trans,
      () => void model.refresh()
    );
    let notifyOnFinish = true;
    const logViews = new Map<string, MainAreaWidget<JobLogView>>();

    const openOutput = async (job: IJob): Promise<void> => {
      if (!job.outputPath) {
        return;
      }
      try {
        await app.serviceManager.contents.get(job.outputPath, {
          content: false
        });
      } catch {
        // E.g. a job cancelled before its first cell: say so instead of a generic error.
        await showErrorMessage(
          trans.__('No output notebook'),
          trans.__(
            'Job "%1" did not write %2 (or it was moved or deleted).',
            job.name,
            job.outputPath
          )
        );
        return;
      }
      await app.commands.execute('docmanager:open', { path: job.outputPath });
    };

    const viewLog = (job: IJob): void => {
      let widget = logViews.get(job.id);
      if (!widget || widget.isDisposed) {
        widget = new MainAreaWidget({
          content: new JobLogView(client, job, trans)
        });
        widget.id = `primehub-log-${job.id}`;
        widget.title.label = trans.__('Log: %1', job.name);
        widget.title.icon = jobsIcon;
        widget.title.closable = true;
        logViews.set(job.id, widget);
        widget.disposed.connect(() => logViews.delete(job.id));
        app.shell.add(widget, 'main');
      }
      app.shell.activateById(widget.id);
    };

    /** Open the submit dialog for a notebook; watch the created job. */
    const submit = async (
      path: string,
      initial?: Partial<IJobRequest>
    ): Promise<void> => {
      const panel = notebooks.find(w => w.context.path === path) ?? null;
      let notebook;
      try {
        notebook = await readNotebook(app, path, panel);
      } catch (err) {
        if (!initial) {
          await showErrorMessage(
            trans.__('Cannot read the notebook'),
            err as Error
          );
          return;
        }
        // Re-run of a job whose notebook is gone: the server will say so in the dialog.
        notebook = { cells: [], kernel: initial.kernel ?? null, dirty: false };
      }
      let job: IJob | null;
      try {
        job = await showSubmitDialog({
          client,
          path,
          cells: notebook.cells,
          notebookKernel: notebook.kernel,
          dirty: notebook.dirty,
          save: notebook.save,
          initial,
          trans,
          onScheduled: schedule => {
            void schedules.refresh();
            Notification.info(
              trans.__('Schedule "%1" created.', schedule.name),
              {
                autoClose: 5000,
                actions: [
                  {
                    label: trans.__('Show jobs'),
                    callback: () => app.shell.activateById(jobsPanel.id)
                  }
                ]
              }
            );
          }
        });
      } catch (err) {
        await showErrorMessage(
          trans.__('Submit Notebook as Job'),
          err as Error
        );
        return;
      }
      if (job) {
        model.watch(job);
        Notification.info(trans.__('Job "%1" submitted.', job.name), {
          autoClose: 5000,
          actions: [
            {
              label: trans.__('Show jobs'),
              callback: () => app.shell.activateById(jobsPanel.id)
            }
          ]
        });
      }
    };

    const actions: IJobActions = {
      openOutput,
      viewLog,
      cancel: async job => {
        try {
          await client.cancel(job.id);
        } catch (err) {
          await showErrorMessage(
            trans.__('Cannot cancel job "%1"', job.name),
            err as Error
          );
        }
        await model.refresh();
      },
      rerun: job =>
        submit(job.path, {
          name: job.name,
          parameters: job.parameters,
          kernel: job.kernel ?? undefined,
          timeout: job.timeout ?? undefined,
          deadline: job.deadline ?? undefined,
          backend: job.backend,
          instanceType: job.instanceType ?? undefined,
          image: job.image ?? undefined
        }),
      remove: async job => {
        const answer = await showDialog({
          title: trans.__('Delete job'),
          body: trans.__(
            'Delete job "%1" with its log and artifacts? The output notebook stays.',
            job.name
          ),
          buttons: [
            Dialog.cancelButton({ label: trans.__('Cancel') }),
            Dialog.warnButton({ label: trans.__('Delete') })
          ]
        });
        if (!answer.button.accept) {
          return;
        }
        try {
          await client.remove(job.id);
        } catch (err) {
          await showErrorMessage(
            trans.__('Cannot delete job "%1"', job.name),
            err as Error
          );
        }
        await model.refresh();
      },
      downloadArtifacts: async job => {
        try {
          const { blob, filename } = await client.artifacts(job.id);
          const url = URL.createObjectURL(blob);
          const link = document.createElement('a');
          link.href = url;
          link.download = filename;
          document.body.appendChild(link);
          link.click();
          link.remove();
          setTimeout(() => URL.revokeObjectURL(url), 60_000);
        } catch (err) {
          await showErrorMessage(
            trans.__('Cannot download the artifacts of "%1"', job.name),
            err as Error
          );
        }
      }
    };

    const jobsPanel = new JobsPanel(model, actions, trans, schedules);
    jobsPanel.title.icon = jobsIcon;
    app.shell.add(jobsPanel, 'left', { rank: 650 });
    if (restorer) {
      restorer.add(jobsPanel, 'primehub-jobs');
    }
    void model.refresh();

    model.finished.connect((_, job) => {
      if (!notifyOnFinish) {
        return;
      }
      const open = job.outputPath
        ? [
            {
              label: trans.__('Open output'),
              callback: () => void openOutput(job)
            }
          ]
        : [];
      const log = { label: trans.__('View log'), callback: () => viewLog(job) };
      if (job.status === 'succeeded') {
        const early = describeEndedEarly(job);
        Notification.success(
          early
            ? trans.__('Job "%1" succeeded. %2', job.name, early)
            : trans.__('Job "%1" succeeded.', job.name),
          { autoClose: 10000, actions: open }
        );
      } else if (job.status === 'failed') {
        const why = describeError(job);
        Notification.error(
          why
            ? trans.__('Job "%1" failed: %2', job.name, why)
            : trans.__('Job "%1" failed.', job.name),
          { autoClose: false, actions: [...open, log] }
        );
      } else {
        Notification.warning(trans.__('Job "%1" was cancelled.', job.name), {
          autoClose: 10000,
          actions: [log]
        });
      }
    });

    const { commands } = app;
    // The notebook tab the user is in; else the notebook last focused. (The tracker sets its
    // current widget only after an async save of its state, so right after a notebook opens
    // the shell knows it first.)
    const currentNotebook = (): NotebookPanel | null => {
      const widget = app.shell.currentWidget;
      return widget instanceof NotebookPanel ? widget : notebooks.currentWidget;
    };
    commands.addCommand(CommandIDs.apiToken, {
      label: trans.__('API Token…'),
      caption: trans.__(
        'Set, replace, clear or test the API token used for jobs'
      ),
      execute: () => showTokenDialog(client, trans)
    });
    commands.addCommand(CommandIDs.submitNotebook, {
      label: trans.__('Submit Notebook as Job…'),
      caption: trans.__('Run the current notebook as a job, with parameters'),
      isEnabled: args => !!args.path || !!currentNotebook(),
      execute: args => {
        // The current notebook widget, not the file-browser selection.
        const path = (args.path as string) || currentNotebook()?.context.path;
        if (path) {
          return submit(path);
        }
      }
    });
    commands.addCommand(CommandIDs.submitFile, {
      label: trans.__('Submit as Job…'),
      caption: trans.__('Run this notebook as a job, with parameters'),
      icon: jobsIcon,
      execute: () => {
        const browser = browserFactory?.tracker.currentWidget;
        const item = browser?.selectedItems().next();
        const path = item && !item.done ? item.value.path : undefined;
        if (path && path.endsWith('.ipynb')) {
          return submit(path);
        }
      }
    });
    commands.addCommand(CommandIDs.openJobs, {
      label: trans.__('Jobs'),
      caption: trans.__('Show the PrimeHub jobs panel'),
      execute: () => {
        app.shell.activateById(jobsPanel.id);
        void model.refresh();
      }
    });

    const menu = new Menu({ commands });
    menu.id = 'jp-mainmenu-primehub';
    menu.title.label = trans.__('PrimeHub');
    menu.addItem({ command: CommandIDs.apiToken });
    menu.addItem({ command: CommandIDs.submitNotebook });
    menu.addItem({ type: 'separator' });
    menu.addItem({ command: CommandIDs.openJobs });
    mainMenu.addMenu(menu, true, { rank: 1000 });

    if (palette) {
      const category = trans.__('PrimeHub');
      for (const command of [
        CommandIDs.apiToken,
        CommandIDs.submitNotebook,
        CommandIDs.openJobs
      ]) {
        palette.addItem({ command, category });
      }
    }

    if (browserFactory) {
      app.contextMenu.addItem({
        command: CommandIDs.submitFile,
        selector: '.jp-DirListing-item[data-file-type="notebook"]',
        rank: 10
      });
    }

    // A toolbar button on every notebook: submits that notebook.
    app.docRegistry.addWidgetExtension('Notebook', {
      createNew: (nbPanel: NotebookPanel) => {
        const button = new ToolbarButton({
          icon: jobsIcon,
          className: 'jp-PrimeHub-toolbarSubmit',
          tooltip: trans.__('Submit Notebook as Job…'),
          onClick: () =>
            void commands.execute(CommandIDs.submitNotebook, {
              path: nbPanel.context.path
            })
        });
        nbPanel.toolbar.insertItem(10, 'primehubSubmit', button);
        return new DisposableDelegate(() => button.dispose());
      }
    });

    if (settingRegistry) {
      const apply = (settings: ISettingRegistry.ISettings): void => {
        model.refreshInterval = Math.max(
          1,
          Number(settings.get('refreshInterval').composite) || 3
        );
        notifyOnFinish = settings.get('notifyOnFinish').composite !== false;
      };
      settingRegistry
        .load(PLUGIN_ID)
        .then(settings => {
          apply(settings);
          settings.changed.connect(apply);
        })
        .catch(reason =>
          console.warn('PrimeHub: cannot load settings', reason)
        );
    }
  }
};

export default plugin;
