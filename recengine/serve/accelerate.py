"""The per-request path in onnxruntime: the user encoder and the scorer exported to ONNX, optionally INT8.

Per request the model runs two pieces over precomputed article vectors: the user encoder over the history's
vectors (:meth:`RecommenderNet.users`) and the scorer over the candidates' vectors
(:meth:`RecommenderNet.logits`: cosine/tau or dot, plus the ID bias and the freshness bonus). Both are exported
as two ONNX graphs with dynamic batch, history-length and candidate axes (``torch.onnx.export``, the dynamo
exporter, else the TorchScript one) and run with ``onnxruntime.InferenceSession`` on the CPU with an explicit
number of intra-op threads. Two graphs rather than one because a served user's vector is cached: a cache hit runs
the scorer alone. Article vectors stay torch's (computed once per catalogue and cached, as before).

Variants: ``"onnx"`` (float32, the same arithmetic as torch) and ``"int8"`` (dynamic INT8 quantisation of the
graphs' weights, ``onnxruntime.quantization.quantize_dynamic``; activations are quantised per call).

:class:`OnnxScorer` is a :class:`~recengine.model.recommender.Recommender` over the same network, catalogue and
users whose ``user_vectors`` and ``score_pairs`` run in onnxruntime: same inputs, same outputs, so a caller (the
ranking path, evaluation's ``score``) swaps it in. Every export is checked against torch on random inputs drawn
from the catalogue's own article vectors; a difference above the variant's tolerance is refused.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from recengine.errors import InputError, RecengineError
from recengine.model.catalog import UNKNOWN_TIME, Catalog
from recengine.model.network import AGE_EDGES_HOURS
from recengine.model.recommender import Recommender

VARIANTS = ("onnx", "int8")
INFERENCE = ("torch", *VARIANTS)  # what a RecommenderService accepts
# Largest |onnx - torch| accepted on the check inputs, per variant, for user vectors and logits. float32 ONNX
# differs from torch by rounding only (measured 2e-7 / 4e-6); INT8 by its quantisation (measured logits 0.033
# on tiny and 0.031 on demo, 0.034 over demo's whole dev; logits are cosine/tau, so 0.01 of cosine is 0.1 logit at
# tau 0.1). The INT8 bound is a guard against a broken quantisation, not a quality claim: AUC is measured.
TOLERANCE = {"onnx": 1e-3, "int8": 1.0}
CHECK_USERS = 64  # random users in the export check
CHECK_CANDIDATES = 24  # random candidates per check user
WEEK = 7 * 86400
_EXAMPLE = (3, 5, 7)  # batch, history, candidates of the example inputs: above 1, so no axis is specialised
USER_INPUTS = ("history", "mask", "user_rows", "history_times", "now")
SCORE_INPUTS = ("users", "candidates", "bias", "age_seconds")


class ExportCheckError(RecengineError):
    """The exported graph's outputs differ from torch's by more than the variant's tolerance."""


def week_relative(history_times: np.ndarray, now: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's times (B, L) and ``now`` (B,) moved back by whole weeks so that ``now`` falls in [0, WEEK).

    Why: the dynamo exporter lowers the encoder's integer floor division (hour of day, day of week) to a float32
    division, which rounds unix seconds (~1.6e9) to 128 s and misplaces clicks near an hour's edge (measured:
    user vectors 0.03 off on tiny's dev). Hour, weekday and the gaps between clicks are unchanged by a shift of
    whole weeks, and times within 2**24 s (194 days) of ``now`` are exact in float32. Unknown times stay unknown.
    """
    known_now = now != UNKNOWN_TIME
    shift = np.where(known_now, np.floor_divide(np.where(known_now, now, 0), WEEK) * WEEK, 0)
    known = (history_times != UNKNOWN_TIME) & known_now[:, None]
    return (np.where(known, history_times - shift[:, None], history_times),
            np.where(known_now, now - shift, now))


class _UserGraph(nn.Module):
    """The user encoder as its own module: history (B, L, d), mask (B, L), user_rows (B,), times -> (B, d)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, history, mask, user_rows, history_times, now):
        return self.net.users(history, mask, user_rows, history_times, now)


class _ScoreGraph(nn.Module):
    """The scorer: users (B, d), candidates (B, C, d), bias (B, C), age_seconds (B, C) -> logits (B, C)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, users, candidates, bias, age_seconds):
        return self.net.logits(users, candidates, bias, age_seconds)


def _examples(dim: int) -> tuple[tuple, tuple]:
    """Example inputs the exporters trace with (values do not matter; a private generator leaves torch's global
    random state, which a training process may rely on, untouched)."""
    batch, length, count = _EXAMPLE
    rng = torch.Generator().manual_seed(0)
    user = (torch.randn(batch, length, dim, generator=rng), torch.ones(batch, length, dtype=torch.bool),
            torch.zeros(batch, dtype=torch.long), torch.zeros(batch, length, dtype=torch.long),
            torch.zeros(batch, dtype=torch.long))
    score = (torch.randn(batch, dim, generator=rng), torch.randn(batch, count, dim, generator=rng),
             torch.zeros(batch, count), torch.zeros(batch, count, dtype=torch.long))
    return user, score


_SHAPES = {"history": ("batch", "history"), "mask": ("batch", "history"), "user_rows": ("batch",),
           "history_times": ("batch", "history"), "now": ("batch",), "users": ("batch",),
           "candidates": ("batch", "candidates"), "bias": ("batch", "candidates"),
           "age_seconds": ("batch", "candidates"), "logits": ("batch", "candidates"), "users_out": ("batch",)}


def _axes(names: tuple[str, ...]) -> dict[str, dict[int, str]]:
    """TorchScript's dynamic_axes: {input or output name: {axis: axis name}}."""
    return {name: dict(enumerate(_SHAPES[name])) for name in names}


def _export_one(module: nn.Module, args: tuple, names: tuple[str, ...], output: str, path: Path) -> str:
    """Export ``module`` to ``path``: the dynamo exporter, else TorchScript's. Returns the exporter that worked."""
    dims = {axis: torch.export.Dim(axis) for axis in ("batch", "history", "candidates")}
    dynamic = tuple({i: dims[axis] for i, axis in enumerate(_SHAPES[name])} for name in names)
    failures = []
    for exporter, options in (("dynamo", {"dynamo": True, "dynamic_shapes": dynamic, "external_data": False}),
                              ("torchscript", {"dynamo": False, "dynamic_axes": _axes(names + (output,))})):
        try:
            torch.onnx.export(module, args, str(path), input_names=list(names), output_names=[output], verbose=False,
                              **options)
            return exporter
        except Exception as error:  # noqa: BLE001 -- an exporter's failure is reported, then the next one tried
            failures.append(f"{exporter}: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")
    raise RecengineError(f"the {output} graph could not be exported to ONNX ({'; '.join(failures)})")


class _QuantiseAdvice(logging.Filter):
    """quantize_dynamic advises shape pre-processing on the root logger at every call; the graphs here are tiny
    and fully shaped by the exporter, so the advice is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


@contextlib.contextmanager
def _quiet():
    """The exporters print progress and warnings; keep stdout clean for machine output (JSON)."""
    onnx_logger, root = logging.getLogger("torch.onnx"), logging.getLogger()
    level, advice = onnx_logger.level, _QuantiseAdvice()
    onnx_logger.setLevel(logging.ERROR)
    root.addFilter(advice)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
            warnings.simplefilter("ignore")
            yield
    finally:
        onnx_logger.setLevel(level)
        root.removeFilter(advice)


def _bucket_by_comparison(net: nn.Module, age_seconds: torch.Tensor) -> torch.Tensor:
    """:meth:`RecommenderNet.age_bucket` as comparisons: the number of edges below the age is what
    ``torch.bucketize`` (right=False) returns; edges are whole seconds, so comparing in int64 is exact."""
    bucket = (age_seconds.unsqueeze(-1) > net.age_edges.to(age_seconds.dtype)).sum(-1)
    return torch.where(age_seconds < 0, torch.full_like(bucket, len(AGE_EDGES_HOURS) + 1), bucket)


@contextlib.contextmanager
def _comparison_buckets(net: nn.Module):
    """While exporting, the network buckets ages by comparison: the exporters lower ``bucketize`` to a binary
    search of ~13 Div/Mod/Cast steps, which made the score graph slower than torch (measured 14.4 ms against
    10.8 ms for 12,800 pairs; 6.2 ms by comparison). Same buckets (the export check compares with torch), and
    torch callers meanwhile get the same numbers, so the brief instance override is harmless."""
    net.age_bucket = functools.partial(_bucket_by_comparison, net)
    try:
        yield
    finally:
        del net.age_bucket


def export_graphs(recommender: Recommender, folder: Path, variants: tuple[str, ...]) -> tuple[dict, str]:
    """Write the user and score graphs of ``recommender``'s network to ``folder``, once, plus their INT8
    quantisation when "int8" is asked for. Returns ({variant: (user graph, score graph)}, the exporter used)."""
    net = recommender.net.eval()
    user_args, score_args = _examples(net.config.dim)
    with _quiet(), torch.no_grad(), _comparison_buckets(net):
        exporter = _export_one(_UserGraph(net).eval(), user_args, USER_INPUTS, "users_out", folder / "user.onnx")
        _export_one(_ScoreGraph(net).eval(), score_args, SCORE_INPUTS, "logits", folder / "score.onnx")
    paths = {"onnx": (folder / "user.onnx", folder / "score.onnx")}
    if "int8" in variants:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        with _quiet():
            for name in ("user", "score"):
                quantize_dynamic(folder / f"{name}.onnx", folder / f"{name}.int8.onnx", weight_type=QuantType.QInt8)
        paths["int8"] = (folder / "user.int8.onnx", folder / "score.int8.onnx")
    return {variant: paths[variant] for variant in variants}, exporter


def _session(path: Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: the quantised graphs warn about shape inference
    return ort.InferenceSession(path.read_bytes(), sess_options=options, providers=["CPUExecutionProvider"])


def check_options(recommender: Recommender, variant: str, threads: int) -> None:
    """Refuse what cannot be exported, before any export work."""
    if variant not in VARIANTS:
        raise InputError(f"inference variant must be one of {', '.join(VARIANTS)}; got {variant!r}")
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise InputError(f"onnxruntime threads must be a whole number >= 1; got {threads!r}")
    if not isinstance(recommender, Recommender):
        raise InputError(f"an ONNX export needs a loaded Recommender; got {type(recommender).__name__}")
    if recommender.config.model.user_retrieval:
        raise InputError("the ONNX path does not cover retrieval-augmented users (user_retrieval > 0): its user bank "
                         "is searched outside the network; serve this run with torch")


def _weights_stamp(recommender: Recommender, tensors: list[torch.Tensor]) -> tuple[int, int]:
    """What changes whenever the weights do: ``invalidate()`` calls, and every in-place write to one of the
    network's ``tensors`` (torch counts them per tensor: an optimizer step or ``load_state_dict``). The tensors
    are listed once at export: walking the modules on every call cost 0.15 ms, as much as a small graph's run."""
    return recommender.weights_version, sum(t._version for t in tensors)


class OnnxScorer(Recommender):
    """A :class:`Recommender` whose ``user_vectors`` and ``score_pairs`` run in onnxruntime (see the module notes).

    Build with :meth:`export`. ``exporter`` names the ONNX exporter that worked ("dynamo" or "torchscript"),
    ``check`` the max |onnx - torch| on the check inputs per graph. The graphs hold the weights as they were at
    export: after the weights change (``invalidate``, or any write to the shared network's tensors) the scorer
    refuses to run until exported again.
    """

    variant: str
    exporter: str
    check: dict[str, float]

    @classmethod
    def export(cls, recommender: Recommender, variant: str = "onnx", *, threads: int = 1,
               tolerance: float | None = None, seed: int = 0) -> "OnnxScorer":
        """Export ``recommender``'s per-request path, load it in onnxruntime and check it against torch."""
        return export_scorers(recommender, (variant,), threads=threads, tolerance=tolerance, seed=seed)[variant]

    @classmethod
    def _bound(cls, recommender: Recommender, catalog: Catalog, sessions: tuple, variant: str,
               exporter: str) -> "OnnxScorer":
        scorer = cls(recommender.config, catalog, recommender.users, recommender.net, str(recommender.device))
        scorer.calibration = recommender.calibration
        scorer.weights_version = recommender.weights_version
        scorer._tensors = [*recommender.net.parameters(), *recommender.net.buffers()]
        scorer._sessions, scorer._stamp = sessions, _weights_stamp(recommender, scorer._tensors)
        scorer.variant, scorer.exporter, scorer.check = variant, exporter, {}
        return scorer

    def over(self, catalog: Catalog) -> "OnnxScorer":
        """The same graphs over another catalogue (article vectors are inputs, so nothing is exported again)."""
        extended = self._bound(self, catalog, self._sessions, self.variant, self.exporter)
        extended.check, extended._stamp = self.check, self._stamp
        return extended

    def _run(self, index: int, feeds: dict[str, np.ndarray]) -> np.ndarray:
        if _weights_stamp(self, self._tensors) != self._stamp:
            raise RecengineError("the model's weights changed after the ONNX export; export it again")
        session = self._sessions[index]
        # TorchScript's exporter drops inputs the graph never reads (history_times for the attention encoder)
        wanted = {item.name for item in session.get_inputs()}
        return session.run(None, {name: value for name, value in feeds.items() if name in wanted})[0]

    def _article_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Article vectors (A, d), biases (A,) and first-seen times (A,) as numpy, cached with the vectors."""
        art = self.article_vectors()
        cached = getattr(self, "_arrays", None)
        if cached is None or cached[0] is not art:
            self._arrays = (art, art.vectors.float().cpu().numpy(), art.bias.float().cpu().numpy())
        return self._arrays[1], self._arrays[2], self.catalog.first_seen

    # ------------------------------------------------------------------ the two graphs, raw

    def encode_users(self, history: np.ndarray, mask: np.ndarray, user_rows: np.ndarray, history_times: np.ndarray,
                     now: np.ndarray) -> np.ndarray:
        """The user graph: history (B, L, d) float32 vectors, mask (B, L), user_rows (B,), times (B, L), now (B,)."""
        history_times, now = week_relative(np.asarray(history_times, dtype=np.int64), np.asarray(now, dtype=np.int64))
        return self._run(0, {"history": np.ascontiguousarray(history, dtype=np.float32), "mask": mask.astype(bool),
                             "user_rows": user_rows.astype(np.int64), "history_times": history_times, "now": now})

    def logits_of(self, users: np.ndarray, candidates: np.ndarray, bias: np.ndarray,
                  age_seconds: np.ndarray) -> np.ndarray:
        """The score graph: users (B, d), candidates (B, C, d), bias (B, C), age_seconds (B, C) -> (B, C)."""
        return self._run(1, {"users": np.ascontiguousarray(users, dtype=np.float32),
                             "candidates": np.ascontiguousarray(candidates, dtype=np.float32),
                             "bias": bias.astype(np.float32), "age_seconds": age_seconds.astype(np.int64)})

    # ------------------------------------------------------------------ Recommender's per-request methods

    @torch.no_grad()
    def user_vectors(self, history: np.ndarray, mask: np.ndarray, user_rows: np.ndarray, now: np.ndarray,
                     history_times: np.ndarray | None = None) -> torch.Tensor:
        """As :meth:`Recommender.user_vectors`, in onnxruntime."""
        vectors, _, _ = self._article_arrays()
        mask = np.asarray(mask, dtype=bool)
        gathered = vectors[np.where(mask, history, 0)] * mask[..., None]
        times = np.where(mask, history_times if history_times is not None else UNKNOWN_TIME, UNKNOWN_TIME)
        users = self.encode_users(gathered, mask, np.asarray(user_rows), times, np.asarray(now))
        return torch.from_numpy(users).to(self.device)

    @torch.no_grad()
    def score_pairs(self, users: torch.Tensor, rows: np.ndarray, now: np.ndarray) -> torch.Tensor:
        """As :meth:`Recommender.score_pairs` (users (N, d) against rows (N,) at now (N,) -> (N,)), in onnxruntime."""
        vectors, bias, first_seen = self._article_arrays()
        rows = np.asarray(rows, dtype=np.int64)
        seen = first_seen[rows]
        age = np.where(seen == UNKNOWN_TIME, -1, np.asarray(now, dtype=np.int64) - seen)
        logits = self.logits_of(users.float().cpu().numpy(), vectors[rows][:, None, :], bias[rows][:, None],
                                age[:, None])
        return torch.from_numpy(logits[:, 0]).to(self.device)

    # ------------------------------------------------------------------ the export check

    def verify(self, reference: Recommender, tolerance: float | None = None, seed: int = 0) -> dict[str, float]:
        """Compare with ``reference`` (torch) on random inputs; sets and returns ``check``, and raises
        :class:`ExportCheckError` when the largest difference is above ``tolerance`` (default the variant's)."""
        limit = TOLERANCE[self.variant] if tolerance is None else float(tolerance)
        self.check = self._compare(reference, seed)
        worst = max(self.check.values())
        if not worst <= limit:  # also refuses NaN
            raise ExportCheckError(f"the {self.variant} export differs from torch by {worst:.3g} (user vectors "
                                   f"{self.check['users']:.3g}, logits {self.check['logits']:.3g}) on random "
                                   f"inputs, above the tolerance {limit:g}; serve this run with torch")
        return self.check

    def _compare(self, reference: Recommender, seed: int) -> dict[str, float]:
        """Max |onnx - torch| of user vectors and logits on random users, histories and candidates."""
        rng = np.random.default_rng(seed)
        n_articles, length = len(self.catalog), self.config.model.max_history
        history = rng.integers(0, n_articles, (CHECK_USERS, length))
        mask = np.arange(length)[None, :] < rng.integers(0, length + 1, CHECK_USERS)[:, None]
        mask[0] = False  # one user with no history: the encoder's "empty" vector
        user_rows = rng.integers(-1, len(self.net.user_trained), CHECK_USERS)
        now = rng.integers(1_500_000_000, 1_800_000_000, CHECK_USERS)
        now[: CHECK_USERS // 2] -= now[: CHECK_USERS // 2] % 3600 + rng.integers(-2, 2, CHECK_USERS // 2)  # hour edges
        times = np.where(rng.random((CHECK_USERS, length)) < 0.5, UNKNOWN_TIME, now[:, None] - rng.integers(
            0, 10**6, (CHECK_USERS, length)))
        expected = reference.user_vectors(history, mask, user_rows, now, times)
        got = self.user_vectors(history, mask, user_rows, now, times)
        owner = np.repeat(np.arange(CHECK_USERS), CHECK_CANDIDATES)
        rows = rng.integers(0, n_articles, len(owner))
        # ages from unknown to weeks, across every freshness bucket
        seen = self.catalog.first_seen[rows]
        pair_now = np.where(seen == UNKNOWN_TIME, now[owner], seen + rng.integers(-3600, 30 * 86400, len(owner)))
        edges = np.asarray(AGE_EDGES_HOURS, dtype=np.int64) * 3600  # ages exactly on the freshness buckets' edges
        on_edge = np.flatnonzero(seen != UNKNOWN_TIME)[: len(edges)]
        pair_now[on_edge] = seen[on_edge] + edges[: len(on_edge)]
        expected_logits = reference.score_pairs(expected[torch.from_numpy(owner)], rows, pair_now)
        got_logits = self.score_pairs(got[torch.from_numpy(owner)], rows, pair_now)  # the whole path, end to end
        return {"users": float((got - expected).abs().max()),
                "logits": float((got_logits - expected_logits).abs().max())}


def export_scorers(recommender: Recommender, variants: tuple[str, ...] = VARIANTS, *, threads: int = 1,
                   tolerance: float | None = None, seed: int = 0) -> dict[str, OnnxScorer]:
    """{variant: :class:`OnnxScorer`} from one export of ``recommender``'s per-request path, each checked against
    torch on random inputs (:class:`ExportCheckError` above ``tolerance``, default the variant's
    :data:`TOLERANCE`)."""
    for variant in variants:
        check_options(recommender, variant, threads)
    if tolerance is not None and not float(tolerance) >= 0:
        raise InputError(f"export tolerance must be a number >= 0; got {tolerance!r}")
    with tempfile.TemporaryDirectory(prefix="recengine-onnx-") as folder:
        paths, exporter = export_graphs(recommender, Path(folder), tuple(variants))
        sessions = {v: (_session(user, threads), _session(score, threads)) for v, (user, score) in paths.items()}
    scorers = {}
    for variant in variants:
        scorers[variant] = OnnxScorer._bound(recommender, recommender.catalog, sessions[variant], variant, exporter)
        scorers[variant].verify(recommender, tolerance, seed)
    return scorers


def check_inference(inference: str) -> str:
    """``inference`` when it is one a service accepts (:data:`INFERENCE`); else a one-line InputError."""
    if inference not in INFERENCE:
        raise InputError(f"inference must be one of {', '.join(INFERENCE)}, got {inference!r}")
    return inference


def accelerated(recommender: Recommender, inference: str = "torch", *, threads: int = 1) -> Recommender:
    """``recommender`` itself for ``"torch"``, else its :class:`OnnxScorer` (``"onnx"`` or ``"int8"``)."""
    if inference == "torch":
        return recommender
    return OnnxScorer.export(recommender, inference, threads=threads)
