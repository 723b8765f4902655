"""The training config: YAML files and --set overrides merged over the defaults, typos refused."""
import pytest

from deeprm_ros.training_config import DEFAULTS, ConfigError, load_training_config


def _config(tmp_path, text):
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    return path


def test_exponent_without_a_dot_is_a_float_in_files_and_overrides(tmp_path):
    """PyYAML alone reads `3e-4` as the string '3e-4' (YAML 1.1); the run then failed deep inside the scheduler."""
    config = load_training_config(_config(tmp_path, "optim:\n  lr: 3e-4\n"), ["optim.gamma=5E-1", "loss.flow_weight=1e-2"])
    assert config["optim"]["lr"] == pytest.approx(3e-4) and isinstance(config["optim"]["lr"], float)
    assert config["optim"]["gamma"] == pytest.approx(0.5)
    assert config["loss"]["flow_weight"] == pytest.approx(0.01)
    assert config["train"]["iterations"] == DEFAULTS["train"]["iterations"]  # untouched defaults stay
    config = load_training_config(_config(tmp_path, "data:\n  split: 3e4_images\n"), ["train.device=cpu"])
    assert config["data"]["split"] == "3e4_images" and config["train"]["device"] == "cpu"  # strings stay strings


def test_unknown_options_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="optim.learning_rate"):
        load_training_config(_config(tmp_path, "optim:\n  learning_rate: 0.1\n"))
    with pytest.raises(ConfigError, match="unknown option"):
        load_training_config(_config(tmp_path, "{}\n"), ["train.freeze_bn=true"])
    assert load_training_config(_config(tmp_path, "{}\n"), ["train.freeze_batchnorm=true"])["train"]["freeze_batchnorm"]
