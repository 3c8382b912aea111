/**
 * The Lab-only part of the extension, loaded by `index.ts` when a `ILabShell` exists: the
 * "Dioptra Lab" side panel, notifications of the jobs submitted from this Lab, the "Submit
 * to queue" command and toolbar buttons, launcher cards and the palette commands.
 *
 * A separate chunk: it imports packages (docmanager, launcher, notebook) that Voila's shared
 * scope lacks, so Voila, which loads every Lab extension, never loads it.
 */
import type { ILabShell, ILayoutRestorer, JupyterFrontEnd } from '@jupyterlab/application';
import {
  ICommandPalette,
  InputDialog,
  MainAreaWidget,
  Notification,
  ToolbarButton
} from '@jupyterlab/apputils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import type { DocumentRegistry, IDocumentWidget } from '@jupyterlab/docregistry';
import { ILauncher } from '@jupyterlab/launcher';
import { DisposableDelegate } from '@lumino/disposable';
import type { Widget } from '@lumino/widgets';

import { DioptraClient } from './api';
import { dashboardIcon, dioptraIcon, submitIcon } from './icons';
import type { JobAction } from './jobrow';
import { dashboardHref, LAUNCHER_CATEGORY, newExperimentNotebook } from './launcher';
import { createLogsWidget, LogsView } from './logs';
import { JobNotifier } from './notify';
import { DioptraPanel } from './panel';
import { isSubmittable, isYaml } from './params';
import { errorMessage } from './requests';
import { submitEntryPoint } from './submit';
import type { IDashboardInfo, IJobView } from './types';

/** The ids of the extension's commands. */
export namespace CommandIDs {
  export const openPanel = 'dioptra-lab:open-panel';
  export const refresh = 'dioptra-lab:refresh';
  export const submit = 'dioptra-lab:submit';
  export const newExperiment = 'dioptra-lab:new-experiment';
  export const openDashboard = 'dioptra-lab:open-dashboard';
  export const showLogs = 'dioptra-lab:show-logs';
  export const openNotebook = 'dioptra-lab:open-notebook';
}

/** The palette's category of the commands. */
const PALETTE_CATEGORY = 'Dioptra Lab';

/** The toolbar item name of the submit buttons. */
const TOOLBAR_ITEM = 'dioptraLabSubmit';

function asString(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/**
 * Wire the extension into a JupyterLab: the optional services are resolved here, so only
 * what exists is wired.
 */
export async function activateLab(
  app: JupyterFrontEnd,
  labShell: ILabShell,
  palette: ICommandPalette | null,
  restorer: ILayoutRestorer | null
): Promise<void> {
  const launcher = await app.resolveOptionalService(ILauncher);
  const docManager = await app.resolveOptionalService(IDocumentManager);
  const client = new DioptraClient(app.serviceManager.serverSettings);
  const { commands } = app;
  const logs = new Map<string, MainAreaWidget<LogsView>>();

  const fail = (what: string, error: unknown): void => {
    Notification.error(`${what}: ${errorMessage(error)}`, { autoClose: 10000 });
  };

  // -- job actions ---------------------------------------------------------------
  const openPath = async (path: string): Promise<void> => {
    if (docManager) {
      docManager.openOrReveal(path);
    } else if (commands.hasCommand('docmanager:open')) {
      await commands.execute('docmanager:open', { path });
    } else {
      window.open(`${client.settings.baseUrl}lab/tree/${path}`, '_blank', 'noopener');
    }
  };

  const openNotebook = async (id: string): Promise<void> => {
    try {
      const { path } = await client.saveNotebook(id);
      await openPath(path);
    } catch (error) {
      fail('Cannot open the executed notebook', error);
    }
  };

  const showLogs = (id: string, label?: string): void => {
    let widget = logs.get(id);
    if (!widget || widget.isDisposed) {
      widget = createLogsWidget(client, id, label);
      logs.set(id, widget);
      widget.disposed.connect(() => logs.delete(id));
    }
    if (!widget.isAttached) {
      app.shell.add(widget, 'main');
    }
    app.shell.activateById(widget.id);
  };

  const runAction = async (action: JobAction, job: IJobView): Promise<void> => {
    switch (action) {
      case 'cancel':
        try {
          await client.cancel(job.id);
          notifier.unwatch([job.id]);
        } catch (error) {
          fail('Cannot cancel the job', error);
        }
        break;
      case 'rerun':
        try {
          const again = await client.rerun(job.id);
          notifier.watch([again.id]);
          Notification.info(`Queued a rerun of ${job.run_name || job.id.slice(0, 8)}.`, {
            autoClose: 5000
          });
        } catch (error) {
          fail('Cannot rerun the job', error);
        }
        break;
      case 'notebook':
        await openNotebook(job.id);
        break;
      case 'mlflow':
        if (job.links?.mlflow) {
          window.open(job.links.mlflow, '_blank', 'noopener');
        }
        break;
      case 'logs':
        showLogs(job.id, job.run_name);
        break;
    }
  };

  // -- the side panel and the notifications ----------------------------------------
  const notifier = new JobNotifier(client, {
    openNotebook: job => openNotebook(job.id),
    showLogs: job => showLogs(job.id, job.run_name)
  });
  const panel = new DioptraPanel(client, {
    runAction,
    jobsSeen: jobs => notifier.observe(jobs)
  });
  panel.title.icon = dioptraIcon;
  labShell.add(panel, 'left', { rank: 150 });
  restorer?.add(panel, 'dioptra-lab-panel');

  commands.addCommand(CommandIDs.openPanel, {
    label: 'Open the Dioptra Lab panel',
    caption: 'Show the stack, the queues and the jobs',
    icon: dioptraIcon,
    execute: () => {
      app.shell.activateById(panel.id);
    }
  });

  commands.addCommand(CommandIDs.refresh, {
    label: 'Refresh the Dioptra Lab panel',
    execute: () => panel.refresh(true)
  });

  // -- submit to queue -------------------------------------------------------------
  const contextOf = (widget: Widget | null): DocumentRegistry.Context | null => {
    if (!widget || !docManager) {
      return null;
    }
    return docManager.contextForWidget(widget) ?? null;
  };

  const currentPath = (): string => contextOf(app.shell.currentWidget)?.path ?? '';

  commands.addCommand(CommandIDs.submit, {
    label: args => (args.toolbar ? 'Submit' : 'Submit to queue'),
    caption: 'Submit this notebook or entry point to a queue of workers',
    icon: args => (args.toolbar || args.isPalette ? undefined : submitIcon),
    isEnabled: args => {
      const path = asString(args.path) || currentPath();
      return !!docManager && !!path && isSubmittable(path);
    },
    execute: async args => {
      const path = asString(args.path) || currentPath();
      if (!path) {
        Notification.warning('Open a notebook or a YAML entry point to submit it.', {
          autoClose: 5000
        });
        return;
      }
      // the server reads the file: save what the user sees first
      const widget = docManager?.findWidget(path) ?? app.shell.currentWidget;
      const context = contextOf(widget ?? null);
      if (context && context.path === path && context.model.dirty) {
        try {
          await context.save();
        } catch (error) {
          fail(`Cannot save ${path}`, error);
          return;
        }
      }
      const answer = await submitEntryPoint(client, path);
      if (!answer) {
        return;
      }
      const ids = answer.jobs.map(job => job.id);
      notifier.watch(ids);
      const queue = answer.jobs[0]?.queue ?? '';
      Notification.success(
        answer.jobs.length === 1
          ? `Submitted ${path} to queue ${queue}.`
          : `Submitted a sweep of ${answer.jobs.length} jobs of ${path} to queue ${queue}.`,
        { autoClose: 5000 }
      );
      app.shell.activateById(panel.id);
      void panel.refresh(true);
    }
  });

  if (docManager) {
    const makeButton = (context: DocumentRegistry.Context): ToolbarButton => {
      const button = new ToolbarButton({
        icon: submitIcon,
        label: 'Submit',
        tooltip: 'Submit to queue',
        className: 'jp-DioptraLab-submitButton',
        dataset: { 'data-command': CommandIDs.submit },
        onClick: () => {
          void commands.execute(CommandIDs.submit, { path: context.path });
        }
      });
      button.addClass('jp-DioptraLab-submitToolbarItem');
      return button;
    };

    app.docRegistry.addWidgetExtension('Notebook', {
      createNew: (widget: IDocumentWidget, context: DocumentRegistry.Context) => {
        const button = makeButton(context);
        if (!widget.toolbar.insertAfter('cellType', TOOLBAR_ITEM, button)) {
          widget.toolbar.insertItem(10, TOOLBAR_ITEM, button);
        }
        return new DisposableDelegate(() => button.dispose());
      }
    });

    app.docRegistry.addWidgetExtension('Editor', {
      createNew: (widget: IDocumentWidget, context: DocumentRegistry.Context) => {
        const button = makeButton(context);
        const sync = (): void => button.setHidden(!isYaml(context.path));
        sync();
        context.pathChanged.connect(sync);
        widget.toolbar.insertItem(0, TOOLBAR_ITEM, button);
        return new DisposableDelegate(() => {
          context.pathChanged.disconnect(sync);
          button.dispose();
        });
      }
    });
  }

  // -- logs and notebooks of a job ------------------------------------------------
  commands.addCommand(CommandIDs.showLogs, {
    label: args => (args.id ? `Show the logs of job ${asString(args.id).slice(0, 8)}` : 'Show the logs of a job…'),
    caption: 'Follow the logs of a job in a tab',
    execute: async args => {
      let id = asString(args.id);
      if (!id) {
        const answer = await InputDialog.getText({
          title: 'Show the logs of a job',
          label: 'Job id (the MLflow run id)',
          placeholder: 'e.g. 3f2c…'
        });
        id = (answer.button.accept && answer.value ? answer.value : '').trim();
      }
      if (id) {
        showLogs(id);
      }
    }
  });

  commands.addCommand(CommandIDs.openNotebook, {
    label: 'Open the executed notebook of a job',
    isEnabled: args => !!args.id,
    execute: args => openNotebook(asString(args.id))
  });

  // -- launcher: new experiment notebook, dashboards ---------------------------------
  commands.addCommand(CommandIDs.newExperiment, {
    label: args => (args.isLauncher ? 'Dioptra Lab experiment' : 'New Dioptra Lab experiment notebook'),
    caption: 'A new notebook that opens the Dioptra Lab widget (import dioptra_lab; dioptra_lab.lab())',
    icon: dioptraIcon,
    isEnabled: () => commands.hasCommand('notebook:create-new'),
    execute: async args => {
      try {
        await newExperimentNotebook(app, asString(args.cwd));
      } catch (error) {
        fail('Cannot create the experiment notebook', error);
      }
    }
  });

  commands.addCommand(CommandIDs.openDashboard, {
    label: args => (args.name ? `${asString(args.name)} dashboard` : 'Open a dashboard'),
    caption: args =>
      args.path ? `Open the Voila dashboard ${asString(args.path)} in a new tab` : 'Open a Voila dashboard',
    icon: dashboardIcon,
    isEnabled: args => !!args.url,
    execute: args => {
      const href = dashboardHref(asString(args.url), client.settings.baseUrl);
      window.open(href, '_blank', 'noopener');
    }
  });

  if (launcher) {
    launcher.add({
      command: CommandIDs.newExperiment,
      args: { isLauncher: true },
      category: LAUNCHER_CATEGORY,
      rank: 0
    });
  }

  if (palette) {
    for (const command of [
      CommandIDs.openPanel,
      CommandIDs.refresh,
      CommandIDs.submit,
      CommandIDs.newExperiment,
      CommandIDs.showLogs
    ]) {
      palette.addItem({ command, category: PALETTE_CATEGORY });
    }
  }

  // the dashboards the server knows, once the Lab is up (silently none without the stack)
  if (launcher || palette) {
    void app.restored
      .then(() => client.dashboards())
      .then(({ dashboards }) => {
        (dashboards ?? []).forEach((dashboard: IDashboardInfo, i: number) => {
          const args = { name: dashboard.name, path: dashboard.path, url: dashboard.url };
          launcher?.add({
            command: CommandIDs.openDashboard,
            args,
            category: LAUNCHER_CATEGORY,
            rank: 10 + i
          });
          palette?.addItem({ command: CommandIDs.openDashboard, args, category: PALETTE_CATEGORY });
        });
      })
      .catch(error => {
        console.warn(`dioptra-lab: no dashboards (${errorMessage(error)})`);
      });
  }
}
