"""One output-name pattern for every submit: the server's default template (JupyterLab's
dialog, ``primehub-job``, the server's REST API, both backends) and the hub service's REST
default are the contract's ``OUTPUT_TEMPLATE``."""

from jupyterlab_primehub.app import PrimeHubApp
from jupyterlab_primehub.jobs.service import DEFAULT_OUTPUT_TEMPLATE
from primehub_jobs_contract.layout import OUTPUT_TEMPLATE, output_file_name
from primehub_spawner.jobs.requests import output_name


def test_the_contract_names_the_output_notebook():
    assert output_file_name("train", "20260115093000", "3f2a9c1d0b7e") == (
        "train-20260115093000-3f2a9c-output.ipynb"
    )


def test_the_server_and_the_hub_service_use_the_contracts_pattern():
    assert DEFAULT_OUTPUT_TEMPLATE == OUTPUT_TEMPLATE
    assert PrimeHubApp().output_template == OUTPUT_TEMPLATE
    server = DEFAULT_OUTPUT_TEMPLATE.format(
        stem="train", name="my job", id="3f2a9c1d0b7e", timestamp="20260115093000"
    )
    hub = output_name("reports/train.ipynb", "20260115093000", "3f2a9c1d0b7e")
    assert hub == f"reports/{server}" == "reports/train-20260115093000-3f2a9c-output.ipynb"
