"""The configuration template that `mailgate init` writes documents every setting, and every
example in it is a valid value."""

from __future__ import annotations

import re
from pathlib import Path

from mailgate.cli.setup import CONFIG_TEMPLATE
from mailgate.config import SETTINGS, load_settings

EXAMPLE = re.compile(r"^# ([a-z_]+) = (.+?)(?:\s+#.*)?$")


def uncommented_examples() -> dict[str, str]:
    """The first example line of each setting, uncommented."""
    examples: dict[str, str] = {}
    for line in CONFIG_TEMPLATE.read_text().splitlines():
        match = EXAMPLE.match(line)
        if match and match.group(1) not in examples:
            examples[match.group(1)] = f"{match.group(1)} = {match.group(2)}"
    return examples


def test_template_documents_every_setting() -> None:
    assert set(uncommented_examples()) == set(SETTINGS)


def test_every_example_value_is_accepted(tmp_path: Path) -> None:
    config = tmp_path / "mailgate.toml"
    config.write_text("\n".join(uncommented_examples().values()) + "\n")
    settings = load_settings({"MAILGATE_DATA_DIR": str(tmp_path)})
    assert settings.smtp_port == 25
    assert settings.submission_ports == (587, 2525)
    assert settings.routes == {"*": ("smarthost.example.net", 25)}
    assert settings.tls_cert == tmp_path / "tls" / "cert.pem"


def test_the_readme_settings_table_lists_every_setting_of_the_template() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme[readme.index("| variable | meaning | default |") :].split("\n\n", 1)[0]
    listed = set(re.findall(r"`MAILGATE_([A-Z_]+)`", table))
    assert {name.upper() for name in uncommented_examples()} <= listed
    assert "configs/mailgate.service" in readme
