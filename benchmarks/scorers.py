"""Scorer throughput: the OpenAI backend's batching and concurrency, the CPU judge, the distilled classifier.

    .venv/bin/python benchmarks/scorers.py [--requests 400] [--docs 200] [--only perplexity]

1. openai backend: the same requests one at a time (concurrency 1) and batched with concurrency
   64, against a local OpenAI-compatible HTTP server that answers after 50 ms (the latency of a
   server whose GPU is busy elsewhere; the answer itself costs nothing, so the figure is the
   client's). Reported as requests/s and the ratio.
2. llamacpp: SmolLM2-135M-Instruct judging real documents (edu prompt) on this machine's CPU.
3. distilled classifier: trained on 80% of those LLM labels, scoring the rest: docs/s, Spearman
   and the share within +-1 of the LLM, and its speed against the LLM's.
4. perplexity: Gemma-3-270M base on CPU over the first 256 tokens of real addresses, the same
   addresses with their words shuffled, base64 parts and raw e-mails: docs/s, tokens/s, each
   group's median, how well it ranks fluent above disfluent (ROC AUC), and a regressor distilled
   from the perplexities of the real texts (Spearman, speed).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import sys
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
LATENCY_S = 0.05


class _SlowAnswers(BaseHTTPRequestHandler):
    """An OpenAI-compatible chat endpoint that answers "3" (with log-probabilities) after LATENCY_S."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        time.sleep(LATENCY_S)
        top = [{"token": d, "logprob": math.log(p)} for d, p in (("3", 0.6), ("4", 0.3), ("2", 0.1))]
        body = json.dumps(
            {
                "choices": [
                    {
                        "message": {"role": "assistant", "content": "3"},
                        "logprobs": {"content": [{"token": "3", "logprob": math.log(0.6), "top_logprobs": top}]},
                    }
                ]
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _serve(port_writer) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowAnswers)
    server.daemon_threads = True
    port_writer.send(server.server_address[1])
    server.serve_forever()


def bench_openai(n: int) -> None:
    from udfs.scorers.backends.openai import OpenAIBackend
    from udfs.scorers.judge import LLMJudge
    from udfs.scorers.prompts import load_prompt

    port_reader, port_writer = multiprocessing.Pipe(duplex=False)
    server = multiprocessing.Process(target=_serve, args=(port_writer,), daemon=True)
    server.start()  # its own process: the server must not share the client's interpreter lock
    url = f"http://127.0.0.1:{port_reader.recv()}/v1"
    texts = [f"document {i}" for i in range(n)]
    prompt = load_prompt("edu", "v1")
    rates = {}
    for concurrency in (1, 64):
        judge = LLMJudge(OpenAIBackend("bench", url, concurrency=concurrency), prompt)
        count = n if concurrency > 1 else max(20, n // 10)  # one at a time is slow: a tenth suffices
        started = time.perf_counter()
        results = judge.score(texts[:count])
        rates[concurrency] = count / (time.perf_counter() - started)
        assert all(r.status == "ok" for r in results)
    server.terminate()
    print(f"\n### openai backend, {LATENCY_S * 1000:.0f} ms per request at the server")
    print("| client | requests/s | vs one at a time |")
    print("|---|---|---|")
    for concurrency, rate in rates.items():
        label = "one request at a time" if concurrency == 1 else f"batched, concurrency {concurrency}"
        print(f"| {label} | {rate:,.1f} | {rate / rates[1]:.1f}x |")


def bench_llamacpp_and_distilled(n: int) -> None:
    from planted import real_documents

    from udfs.scorers import config as scorer_config
    from udfs.scorers.classifier import agreement
    from warehouse.config import load_settings
    from warehouse.corpus import prepare

    corpus = {p.source.name: p for p in prepare(load_settings().cache_dir)}
    documents = real_documents(corpus, max_words=3000)
    step = max(1, len(documents) // n)
    texts = [t[:2000] for t in documents[::step][:n]]
    judge = scorer_config.judge(json.dumps({"prompt": "edu", "version": "v1"}))
    judge.score(texts[:1])  # load the model outside the clock
    started = time.perf_counter()
    scores = judge.score(texts)
    llm_rate = len(texts) / (time.perf_counter() - started)
    labelled = [(t, s.score) for t, s in zip(texts, scores, strict=True) if s.status == "ok"]
    report = agreement(judge.id, [t for t, _ in labelled], [s for _, s in labelled])
    print(f"\n### llamacpp judge and distilled classifier, {len(texts)} real documents (addresses, e-mails)")
    print("| scorer | docs/s | out-of-fold agreement with the LLM labels |")
    print("|---|---|---|")
    print(f"| llamacpp {judge.id.model}, edu v1 | {llm_rate:.2f} | (the labels; {len(labelled)} of {len(texts)} ok) |")
    print(
        f"| distilled (hashed n-grams, ridge), {report.labels} labels, {report.folds}-fold | "
        f"{report.docs_per_s:,.0f} | Spearman {report.spearman:.2f}, within +-1 {report.within_one:.0%} |"
    )
    print(f"classifier vs LLM speed: {report.docs_per_s / llm_rate:,.0f}x")


def bench_perplexity(n: int) -> None:
    import numpy as np
    from fluency import fluency_groups
    from sklearn.metrics import roc_auc_score

    from udfs.scorers import config as scorer_config
    from udfs.scorers.classifier import agreement
    from warehouse.config import load_settings
    from warehouse.corpus import prepare

    corpus = {p.source.name: p for p in prepare(load_settings().cache_dir)}
    groups = fluency_groups(corpus, n)
    scorer = scorer_config.judge(json.dumps({"scorer": "perplexity", "version": "v1", "max_tokens": 256}))
    scorer.score(["Load the model outside the clock."])
    texts = [t for group in groups.values() for t in group]
    started = time.perf_counter()
    scores = scorer.score(texts)
    elapsed = time.perf_counter() - started
    tokens = sum(json.loads(s.raw)["tokens"] for s in scores)
    by_group, at = {}, 0
    for name, group in groups.items():
        by_group[name], at = np.array([s.score for s in scores[at : at + len(group)]]), at + len(group)
    print(f"\n### perplexity, {scorer.id.model} ({scorer.id.prompt_version}), {len(texts)} texts")
    print(f"{len(texts) / elapsed:.2f} docs/s, {tokens / elapsed:.0f} tokens/s")
    print("| texts | n | median | 10th-90th percentile | AUC, address below it |")
    print("|---|---|---|---|---|")
    for name, values in by_group.items():
        truth = [0] * len(by_group["address"]) + [1] * len(values)
        auc = f"{roc_auc_score(truth, [*by_group['address'], *values]):.2f}" if name != "address" else ""
        spread = f"{np.percentile(values, 10):.1f}-{np.percentile(values, 90):.1f}"
        print(f"| {name} | {len(values)} | {np.median(values):.1f} | {spread} | {auc} |")
    real = [*groups["address"], *groups["e-mail"]]
    report = agreement(scorer.id, real, [*by_group["address"], *by_group["e-mail"]])
    print(
        f"distilled regressor (log perplexity), {report.labels} labels, {report.folds}-fold: "
        f"{report.docs_per_s:,.0f} docs/s = {report.docs_per_s * elapsed / len(texts):,.0f}x, "
        f"Spearman {report.spearman:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--only", choices=("openai", "llamacpp", "perplexity"), help="run one part")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "tests"))
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"machine: {machine}; date: {datetime.now(UTC):%Y-%m-%d}")
    if args.only in (None, "openai"):
        bench_openai(args.requests)
    if args.only in (None, "llamacpp"):
        bench_llamacpp_and_distilled(args.docs)
    if args.only in (None, "perplexity"):
        bench_perplexity(args.docs // 4)


if __name__ == "__main__":
    main()
