"""Styles on the Hugging Face Hub: ``hf://user/name`` (or ``hf://user/name@revision``) is the
repository's snapshot folder in huggingface_hub's own cache (``HF_HUB_CACHE``, by default
``~/.cache/huggingface/hub``), downloaded there the first time.

Offline (``HF_HUB_OFFLINE=1``, or no network) a cached repository is used as it is; one that is not
cached is refused in one line that says how to fetch it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from clipstyler_fast.errors import CheckpointError, first_line

HUB_SCHEME = "hf://"
INSTALL_HINT = 'pip install "huggingface_hub>=0.34"'
LIBRARY_NAME = "clipstyler-fast"


def is_hub_id(source: object) -> bool:
    """Whether ``source`` names a Hub repository (``hf://user/name[@revision]``) rather than a local path."""
    return isinstance(source, str) and source.startswith(HUB_SCHEME)


def parse_hub_id(source: str) -> tuple[str, str | None]:
    """``hf://user/name@revision`` -> ``("user/name", "revision")`` (revision None when not given), or a one-line error."""
    repo_id, _, revision = source[len(HUB_SCHEME) :].partition("@")
    owner, _, name = repo_id.partition("/")
    if not owner or not name or "/" in name or not all(part.strip() == part for part in (owner, name)):
        raise CheckpointError(
            f"{source}: not a Hub repository id; write hf://user/name, or hf://user/name@revision for a branch, tag or commit"
        )
    return repo_id, revision or None


def hub_snapshot(source: str, files: Sequence[str]) -> Path:
    """The local snapshot folder of the repository ``source`` names, holding ``files`` (downloaded when needed).

    Raises a one-line :class:`CheckpointError` when the repository, the revision or the network is
    missing, saying how to fetch it.
    """
    repo_id, revision = parse_hub_id(source)
    try:
        from huggingface_hub import constants, snapshot_download
        from huggingface_hub.errors import (
            GatedRepoError,
            HfHubHTTPError,
            HFValidationError,
            IncompleteSnapshotError,
            LocalEntryNotFoundError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )
    except ImportError:
        raise CheckpointError(f"{source}: reading styles from the Hugging Face Hub needs huggingface_hub; {INSTALL_HINT}") from None
    fetch = f"hf download {repo_id}" + (f" --revision {revision}" if revision else "")
    try:
        folder = snapshot_download(repo_id, revision=revision, allow_patterns=list(files), library_name=LIBRARY_NAME)
    except (LocalEntryNotFoundError, IncompleteSnapshotError):
        cache = constants.HF_HUB_CACHE
        if constants.HF_HUB_OFFLINE:
            raise CheckpointError(
                f"{source}: not in the Hugging Face cache ({cache}) and HF_HUB_OFFLINE is set; "
                f"fetch it once online with `{fetch}`, or run without HF_HUB_OFFLINE"
            ) from None
        raise CheckpointError(
            f"{source}: the Hugging Face Hub cannot be reached and the repository is not in the cache ({cache}); "
            f"connect to the network, or run `{fetch}` on a machine that can and copy its cache here"
        ) from None
    except HFValidationError:
        raise CheckpointError(
            f"{source}: not a valid Hub repository id; write hf://user/name with letters, digits, '-', '_' and '.'"
        ) from None
    except RevisionNotFoundError:
        raise CheckpointError(f"{source}: the repository has no revision {revision!r}; check the branch, tag or commit after @") from None
    except GatedRepoError:
        raise CheckpointError(f"{source}: a gated repository; accept its conditions on the Hub, then log in with `hf auth login`") from None
    except RepositoryNotFoundError:
        raise CheckpointError(
            f"{source}: no such repository on the Hugging Face Hub (or it is private: log in with `hf auth login`); check the name"
        ) from None
    except HfHubHTTPError as error:
        raise CheckpointError(f"{source}: the Hugging Face Hub refused the download ({first_line(error)[:200]}); try again later") from None
    return Path(folder)
