import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { IMainMenu } from '@jupyterlab/mainmenu';
import { Menu } from '@lumino/widgets';

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterlab-primehub:plugin',
  description: 'PrimeHub menu for JupyterLab.',
  autoStart: true,
  requires: [IMainMenu],
  activate: (app: JupyterFrontEnd, mainMenu: IMainMenu) => {
    const menu = new Menu({ commands: app.commands });
    menu.id = 'jp-mainmenu-primehub';
    menu.title.label = 'PrimeHub';
    mainMenu.addMenu(menu, true, { rank: 1000 });
  }
};

export default plugin;
