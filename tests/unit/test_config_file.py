"""--config FILE: TOML keys as flags, flags win, one-line errors; --print-config round trip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gossip.cli.config_file import parse_with_config, to_toml
from gossip.cli.node import build_parser, config_from_args
from gossip.errors import UsageError


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "node.toml"
    path.write_text(text)
    return str(path)


def test_keys_with_dashes_or_underscores_set_the_config(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'dataset = "synthetic"\ngossip-interval = 0.5\nbatch_size = 16\n'
        'peers = ["127.0.0.1:5001", "127.0.0.1:5002"]\nshard = "1/3"\nmetrics-port = 9100\n'
        'tensorboard_dir = "tb"\n',
    )
    config = config_from_args(["--config", path])
    assert config.dataset == "synthetic"
    assert config.gossip_interval == 0.5
    assert config.batch_size == 16
    assert config.peers == ("127.0.0.1:5001", "127.0.0.1:5002")
    assert config.shard == (1, 3)
    assert config.metrics_port == 9100
    assert config.tensorboard_dir == "tb"


def test_flags_on_the_command_line_win(tmp_path: Path) -> None:
    path = write(tmp_path, "gossip-interval = 0.5\nlr = 0.01\n")
    config = config_from_args(["--gossip-interval", "0.3", "--config", path])
    assert config.gossip_interval == 0.3
    assert config.lr == 0.01


def test_a_node_table_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, "[node]\nseed = 4\n")
    assert config_from_args(["--config", path]).seed == 4


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gossip-intervall = 0.2\n", "unknown key 'gossip-intervall'"),
        ('lr = "fast"\n', "'lr': invalid value 'fast'"),
        ('log-format = "xml"\n', "'log-format' must be one of text, json"),
        ('config = "other.toml"\n', "belongs on the command line"),
        ("seed = [1, 2\n", "not valid TOML"),
        ("print-config = true\n", "belongs on the command line"),
        ("[node]\nseed = 1\n[other]\nx = 1\n", "inside [node]"),
    ],
)
def test_bad_files_are_one_usage_error_naming_file_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(UsageError, match=r"config file .*node\.toml") as error:
        config_from_args(["--config", path])
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read it"):
        config_from_args(["--config", str(tmp_path / "absent.toml")])


def test_printed_config_reads_back_to_the_same_configuration(tmp_path: Path) -> None:
    parser = build_parser()
    args = parse_with_config(parser, ["--dataset", "synthetic", "--peers", "127.0.0.1:5001",
                                      "--gossip-interval", "0.7", "--shard", "2/4"])  # fmt: skip
    text = to_toml(parser, args)
    assert 'dataset = "synthetic"' in text and "gossip-interval = 0.7" in text
    path = write(tmp_path, text)
    again = parse_with_config(build_parser(), ["--config", path])
    for key, value in vars(args).items():
        if key not in ("config", "print_config"):
            assert getattr(again, key) == value, key


def test_print_config_and_an_unknown_key_from_the_command(tmp_path: Path) -> None:
    path = write(tmp_path, "seed = 3\n")
    command = [sys.executable, "-m", "gossip.cli.node"]
    shown = subprocess.run([*command, "--config", path, "--print-config", "--lr", "0.5"],
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert "seed = 3" in shown.stdout and "lr = 0.5" in shown.stdout
    bad = write(tmp_path, "sead = 3\n")
    refused = subprocess.run([*command, "--config", bad], capture_output=True, text=True,
                             timeout=60)  # fmt: skip
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown key 'sead'" in lines[0], refused.stderr


def test_print_config_counts_a_token_from_the_environment_as_set() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "gossip.cli.node", "--print-config"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "GOSSIP_TOKEN": "env-s3cret"},
    )
    assert shown.returncode == 0, shown.stderr
    assert "# token = (set; not printed: a secret)" in shown.stdout
    assert "env-s3cret" not in shown.stdout and "# token =  (not set" not in shown.stdout


def test_print_config_never_shows_the_token() -> None:
    parser = build_parser()
    args = parse_with_config(parser, ["--token", "s3cret-value"])
    text = to_toml(parser, args)
    assert "s3cret-value" not in text and "# token = (set; not printed" in text
