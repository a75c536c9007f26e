"""Type stub for the compiled fastText-exact featurizer (src_cython/_featurize.pyx)."""

import numpy as np
import numpy.typing as npt
from typing_extensions import disjoint_base

def fasttext_hash(token: bytes) -> int:
    """fastText's ``Dictionary::hash`` of ``token`` (FNV-1a over sign-extended bytes)."""

def build_vocab_table(
    word_offsets: npt.NDArray[np.int64], word_bytes: npt.NDArray[np.uint8]
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int32]]:
    """Open-addressing table from FNV hash to word id (empty slots hold -1)."""

@disjoint_base  # a cdef class: no multiple inheritance with another C base
class HashedFeaturizer:
    """A frozen featurizer: vocabulary table plus fastText's n-gram settings."""

    def __init__(
        self,
        word_offsets: npt.NDArray[np.int64],
        word_bytes: npt.NDArray[np.uint8],
        bucket: int,
        word_ngrams: int,
        minn: int,
        maxn: int,
        label_prefix: bytes = b"__label__",
        eos_stops_document: bool = True,
    ) -> None: ...
    @property
    def nwords(self) -> int:
        """Number of vocabulary words (ids below it are words; above, buckets)."""
    @property
    def num_ids(self) -> int:
        """Size of the id space: vocabulary plus buckets."""
    def word_id(self, word: bytes) -> int:
        """Vocabulary id of ``word``, or -1 if it is out of vocabulary."""
    def featurize(
        self,
        offsets: npt.NDArray[np.int64],
        data: npt.NDArray[np.uint8],
        valid: npt.NDArray[np.bool_] | None = None,
        begin: int = 0,
        end: int = -1,
    ) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]:
        """Feature ids of rows ``begin:end``: ``(ids int32[N], doc_offsets int64[rows + 1])``."""

def bucket_of(value: int, bucket: int) -> int:
    """``value % bucket`` computed the kernel's way (exposed for property tests)."""
