"""Job logging: to the Snakemake log file and to stderr, and one line for every failure."""

from __future__ import annotations

import logging
import sys


def setup_logging(log_path=None) -> logging.Logger:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    for noisy in ("absl", "jax._src.xla_bridge"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return logging.getLogger("onepixel")


def log_device(logger: logging.Logger) -> None:
    """Log JAX's devices, in a job that has loaded JAX; the reading jobs (summaries, tables) have none."""
    # Importing JAX here would cost each of those jobs a second of JAX and Flax.
    from onepixel.study import runtime

    if "jax" not in sys.modules or runtime.job_uses_jax is False:
        return
    import os

    import jax

    devices = jax.devices()
    # What the scheduler granted (SLURM sets it for --gpus jobs) next to what JAX uses.
    granted = os.environ.get("CUDA_VISIBLE_DEVICES")
    logger.info(
        "JAX %s on %s%s",
        jax.__version__,
        ", ".join(f"{d.platform}:{d.device_kind}" for d in devices),
        f" (CUDA_VISIBLE_DEVICES={granted})" if granted is not None else "",
    )


def remove_stale_temporaries(outputs, logger: logging.Logger) -> None:
    """Remove what a killed writer of these outputs left (onepixel.io.atomic_path's temp files)."""
    from pathlib import Path

    for output in outputs:
        path = Path(output)
        for stale in path.parent.glob(f".{path.name}.*.tmp"):
            stale.unlink(missing_ok=True)
            logger.info("removed %s, left by an interrupted run", stale)


def _traceback_to_log_file() -> None:
    import traceback

    text = traceback.format_exc()
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.stream.write(text)
            handler.flush()


def log_peak_memory(logger: logging.Logger) -> None:
    """The job's peak resident memory: Snakemake's benchmark records the handing process's for a job
    that ran in the warm process (``onepixel.study.warm``), so the job says it itself."""
    try:
        import resource
    except ImportError:  # not POSIX
        return
    # Linux reports kilobytes, macOS bytes.
    scale = 1 if sys.platform == "darwin" else 1024
    logger.info("peak memory %.0f MB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20)


def run_stage(log_path, stage, *args, outputs=(), **kwargs) -> None:
    """Run one workflow stage with logging; every failure ends the log with one line.

    Known input errors (a bad config value, a missing, corrupt or foreign file)
    end with their message and its fix; anything else with its type and message.
    The traceback goes above that line in the job's log.
    """
    from onepixel.io import ResultFileError
    from onepixel.study.config import ConfigError

    logger = setup_logging(log_path)
    remove_stale_temporaries(outputs, logger)
    log_device(logger)
    try:
        stage(*args, **kwargs)
        log_peak_memory(logger)
    except (ResultFileError, ConfigError) as error:
        _traceback_to_log_file()
        logger.error("%s", error)
        sys.exit(1)
    except Exception as error:
        logger.error("traceback:", exc_info=True)
        logger.error(
            "%s failed: %s: %s; fix: not a known input problem: check the config and inputs named "
            "above, and if they are valid, report it with this log",
            getattr(stage, "__name__", "stage"),
            type(error).__name__,
            error,
        )
        sys.exit(1)
