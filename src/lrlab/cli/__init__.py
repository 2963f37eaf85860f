"""The ``lrlab`` command line: list the schedules, print a curve, plot curves to an image;
train trials, test trained ones, run the LR range test.

    lrlab list
    lrlab show cosine -p base_lr=0.1 -p total_steps=100 --steps 100
    lrlab show cosine --lr 0.1 --steps 100          # the same curve: train's defaults from --lr
    lrlab plot cosine one_cycle -p base_lr=0.1 -p max_lr=0.1 -p total_steps=100% --steps 1000 -o lr.png
    lrlab plot cosine --torch CosineAnnealingLR -p cosine.base_lr=0.1 -p T_max=100 --steps 100 -o c.png
    lrlab train --task digits --schedule cosine --schedule step --seed 0,1 --epochs 20 --out runs
    lrlab test runs
    lrlab find-lr --task digits -o lr_find.png

One thin module per command group (``schedules``: list, show, plot; ``training``: train, test,
find-lr); what they share (``-p KEY=VALUE`` parsing, building curves, ``--lr``) is in
``params``. The training commands import torch only when they run, so ``lrlab list`` stays
fast. ``--lr`` is the reference LR in every command (see :mod:`lrlab.cli.params`).

Parameters are given as ``-p KEY=VALUE`` (or ``NAME.KEY=VALUE`` to target one curve). Values
are parsed, never evaluated. Every bad input exits with status 2 and one
``lrlab: error: ...`` line on stderr.
"""

from __future__ import annotations

import sys

import click

import lrlab

from . import experiments, schedules, training


class _Cli(click.Group):
    """A group whose errors are one ``lrlab: error: ...`` line and exit status 2."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, False, **extra)
        except click.exceptions.NoArgsIsHelpError as e:  # plain `lrlab`: show the help
            click.echo(e.ctx.get_help(), err=True)
            sys.exit(2)
        except click.Abort:  # Ctrl-C
            click.echo("lrlab: interrupted; finished trials and checkpoints are kept: run the "
                       "same command again to continue (lrlab train: with --resume)", err=True)
            sys.exit(130)
        except (click.ClickException, ValueError, TypeError, OSError, MemoryError, RecursionError,
                ModuleNotFoundError) as e:
            msg = e.format_message() if isinstance(e, click.ClickException) else str(e)
            if isinstance(e, ModuleNotFoundError):
                msg = missing_extra(e)
            elif isinstance(e, (MemoryError, RecursionError)):
                msg = f"the input is too large ({type(e).__name__})"
            msg = " ".join(line.strip() for line in msg.splitlines() if line.strip())
            if isinstance(e, click.UsageError) and e.ctx is not None:
                msg += f" (see '{e.ctx.command_path} --help')"
            click.echo(f"lrlab: error: {msg}", err=True)
            sys.exit(2)
        sys.exit(rv if isinstance(rv, int) else 0)


_EXTRAS = {"torch": "torch", "sklearn": "torch", "PIL": "torch", "tensorboard": "tensorboard",
           "paddle": "paddle", "keras": "keras", "lightning": "lightning"}  # module -> the lrlab extra that installs it


def missing_extra(e: ModuleNotFoundError) -> str:
    """One line naming the extra that installs a missing module.

    >>> missing_extra(ModuleNotFoundError("No module named 'torch'", name="torch"))
    "this command needs torch, which is not installed: pip install 'lrlab[torch]'"
    """
    module = (e.name or "").partition(".")[0]
    if module not in _EXTRAS:
        return str(e)
    return (f"this command needs {module}, which is not installed: "
            f"pip install 'lrlab[{_EXTRAS[module]}]'")


@click.group(cls=_Cli, no_args_is_help=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(lrlab.__version__, "-V", "--version", prog_name="lrlab")
def cli():
    """lrlab: learning-rate schedules — list, show and plot them; train, test, find an LR."""


for _command in (schedules.list_cmd, schedules.show, schedules.plot,
                 training.train, training.evaluate_cmd, training.find_lr, experiments.compare,
                 experiments.tune,
                 experiments.report):
    cli.add_command(_command)


def main(args=None) -> None:
    """The ``lrlab`` console script."""
    cli.main(args, prog_name="lrlab")
