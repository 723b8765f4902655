"""The node benchmark's numbers (bench/node_benchmark.py): statistics of a recorded run, the pass/fail verdict
of soak and overload, the markdown report, the plot and the JSON summary."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from refiner_benchmark import machine  # noqa: E402  (imports torch: GPU name and torch threads)

# ------------------------------------------------------------------------------------------------------------
# statistics and tables


def pct(a, q) -> float:
    a = np.asarray(a, dtype=float)
    return float(np.percentile(a, q)) if a.size else float("nan")


def dist_row(name: str, a, unit_scale: float = 1.0) -> list[str]:
    a = np.asarray(a, dtype=float) * unit_scale
    if not a.size:
        return [name, "0"] + ["-"] * 5
    return [name, str(a.size)] + [f"{v:.1f}" for v in (pct(a, 50), pct(a, 90), pct(a, 99), a.max(), a.mean())]


def md_table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def fmt_mb(b) -> str:
    return "-" if b is None or not np.isfinite(b) else f"{b / 2**20:.1f}"


# ------------------------------------------------------------------------------------------------------------
# analysis


def windows_of(stamps_sorted: np.ndarray, size: int) -> list[tuple[int, int]]:
    """[start, end) stamp ranges of consecutive groups of `size` measured camera frames (the last may be short)."""
    out = []
    for i in range(0, len(stamps_sorted), size):
        lo = int(stamps_sorted[i])
        hi = int(stamps_sorted[i + size]) if i + size < len(stamps_sorted) else int(stamps_sorted[-1]) + 1
        out.append((lo, hi))
    return out


def analyse(args, rec) -> dict:
    r = rec["recorder"]
    m0 = rec.get("measure_start_ns")
    if m0 is None:
        return {}
    m1 = rec["measure_end_ns"]
    frames = np.array(sorted(s for s in r.frames if s >= m0), dtype=np.int64)
    if args.mode == "latency":
        frames = frames[frames < m0 + int(args.seconds * 1e9)]
    else:
        frames = frames[: args.frames]
    if not len(frames):
        return {}
    lo, hi = int(frames[0]), int(frames[-1])
    res = np.array([x for x in r.results if lo <= x[0] <= hi], dtype=np.int64).reshape(-1, 5)
    st = [s for s in r.status if lo <= s[0] <= hi]
    before = [s for s in r.status if s[0] < lo]
    dropped0 = before[-1][5] if before else (st[0][5] if st else 0)
    dropped = (st[-1][5] - dropped0) if st else 0
    lat = (res[:, 1] - res[:, 0]) / 1e6 if len(res) else np.zeros(0)
    lat_cb = (res[:, 3] - res[:, 0]) / 1e6 if len(res) else np.zeros(0)
    lat_pub = (res[:, 2] - res[:, 0]) / 1e6 if len(res) else np.zeros(0)
    lat_pub = lat_pub[res[:, 2] > 0] if len(res) else lat_pub
    cam_pub = np.array([(r.frames[s][0] - s) / 1e6 for s in frames if r.frames[s][0] > 0])
    span_s = max((hi - lo) / 1e9, 1e-9)
    live = [r.live[s] for s in frames if s in r.live]
    out = {
        "frames": int(len(frames)), "span_s": span_s,
        "camera_fps": (len(frames) - 1) / span_s if len(frames) > 1 else float("nan"),
        "refined": int(len(res)), "refined_fps": len(res) / span_s if len(frames) > 1 else float("nan"),
        "dropped": int(dropped), "unaccounted": int(len(frames) - len(res) - dropped),
        "latency_ms": lat, "latency_callback_ms": lat_cb, "latency_node_publish_ms": lat_pub,
        "camera_stamp_to_publish_ms": cam_pub,
        "total_ms": np.array([s[2] for s in st]), "render_ms": np.array([s[3] for s in st]),
        "network_ms": np.array([s[4] for s in st]),
        "seen_count_topic": int(sum(1 for s in frames if s in r.count_stamps)),
        "seen_ground_truth": int(sum(1 for s in frames if s in r.live)),
        "tracks": np.array([s[6] for s in st]), "objects_refined": np.array([s[7] for s in st]),
        "live_max": max(live) if live else None, "live_min": min(live) if live else None,
        "result_times": (res[:, 1] - m0) / 1e9 if len(res) else np.zeros(0),
        "status_times": np.array([(s[1] - m0) / 1e9 for s in st]),
        "frame_times": (frames - m0) / 1e9,
        "status_dropped": np.array([s[5] - dropped0 for s in st]),
    }
    out["tracks_over_live"] = int(sum(1 for s in st if r.live.get(s[0]) is not None and s[6] > r.live[s[0]]))
    # windows of camera frames
    w = args.window
    if args.mode != "latency" and len(frames) < 3 * w:
        w = max(1, len(frames) // 5)
    out["window"] = w
    wins = []
    for i, (a, b) in enumerate(windows_of(frames, w)):
        sel = (res[:, 0] >= a) & (res[:, 0] < b) if len(res) else np.zeros(0, bool)
        wl = lat[sel] if len(res) else np.zeros(0)
        sw = [s for s in r.status if a <= s[0] < b]
        prev = [s for s in r.status if s[0] < a]
        d0 = prev[-1][5] if prev else (sw[0][5] if sw else 0)
        nf = int(((frames >= a) & (frames < b)).sum())
        wins.append({"index": i, "frames": nf, "refined": int(sel.sum()), "dropped": int(sw[-1][5] - d0) if sw else 0,
                     "p50": pct(wl, 50), "p99": pct(wl, 99), "max": float(wl.max()) if wl.size else float("nan"),
                     "max_tracks": max((s[6] for s in sw), default=0)})
    out["windows"] = wins
    # memory
    rss = [(t, a, b) for t, a, b in rec["rss"] if a is not None]
    meas = [(t, a, b) for t, a, b in rss if m0 <= t <= m1]
    out["rss_t"] = np.array([(t - m0) / 1e9 for t, _, _ in rss])
    out["rss_node"] = np.array([a for _, a, _ in rss], dtype=float)
    out["rss_camera"] = np.array([b if b is not None else np.nan for _, _, b in rss], dtype=float)
    if meas:
        k = min(5, len(meas))
        out["rss_start"] = float(np.median([a for _, a, _ in meas[:k]]))
        out["rss_end"] = float(np.median([a for _, a, _ in meas[-k:]]))
        out["rss_max"] = float(max(a for _, a, _ in meas))
        out["rss_growth_pct"] = 100.0 * (out["rss_end"] - out["rss_start"]) / out["rss_start"]
        cams = [b for _, _, b in meas if b is not None]
        if cams:
            kc = min(5, len(cams))
            out["rss_camera_start"], out["rss_camera_end"] = float(np.median(cams[:kc])), float(np.median(cams[-kc:]))
    return out


def verdict(args, a) -> tuple[list[str], list[str], list[str], list[str]]:
    """(passes, fails, warnings, notes) of the mode's criteria. Soak and overload have pass/fail criteria; the
    latency mode only reports (its checks come out as warnings)."""
    ok, bad, warn, notes = [], [], [], []

    def check(passed: bool, line: str, criterion: bool = True):
        """A criterion of this mode: PASS or FAIL; otherwise only a WARN when it does not hold."""
        if criterion:
            (ok if passed else bad).append(line)
        elif not passed:
            warn.append(line)

    wins = [w for w in a["windows"] if w["refined"] > 0]
    if args.mode != "latency":
        if len(wins) >= 2:
            p_first, p_last = wins[0]["p99"], wins[-1]["p99"]
            check(p_last <= 2 * p_first, f"latency p99 last window {p_last:.0f} ms vs first {p_first:.0f} ms "
                                         f"(limit 2x = {2 * p_first:.0f} ms)")
        else:
            bad.append("fewer than two windows with results: the p99 trend cannot be checked")
    if a["live_max"] is None or not len(a["tracks"]):
        (bad if args.mode == "soak" else warn).append("no track counts or no live-object counts recorded")
    else:
        check(a["tracks"].max() <= a["live_max"], f"max track count {int(a['tracks'].max())} vs live objects "
                                                  f"{a['live_max']} ({a['tracks_over_live']} frames with more tracks)",
              criterion=args.mode == "soak")
    if args.mode == "soak":
        g = a.get("rss_growth_pct")
        if g is None:
            bad.append("no RSS samples of the node")
        else:
            check(g < 5.0, f"node RSS {fmt_mb(a['rss_start'])} MB after warm-up -> {fmt_mb(a['rss_end'])} MB at the "
                           f"end: {g:+.2f}% (limit +5%)")
    overloaded = a["refined_fps"] < 0.9 * a["camera_fps"]
    if args.mode == "overload":
        if not overloaded:
            notes.append(f"not overloaded: refined {a['refined_fps']:.1f} FPS vs camera {a['camera_fps']:.1f} FPS "
                         "(raise --rate, --iterations/--tracking-iterations or --objects)")
        else:
            check(a["dropped"] > 0, f"node counted {a['dropped']} dropped of {a['frames']} camera frames "
                                    f"({a['refined']} refined, refined {a['refined_fps']:.1f} FPS < camera "
                                    f"{a['camera_fps']:.1f} FPS)")
        if len(a["total_ms"]):
            notes.append(f"latency p99 {pct(a['latency_ms'], 99):.0f} ms vs 2 x node total_ms p99 = "
                         f"{2 * pct(a['total_ms'], 99):.0f} ms (queue of one: one frame waiting + its own refinement)")
    if a["unaccounted"] > 0.1 * a["frames"]:
        warn.append(f"{a['unaccounted']} of {a['frames']} camera frames ({100.0 * a['unaccounted'] / a['frames']:.0f}%) "
                    "were neither refined nor counted as dropped by the node: lost before its subscription callback "
                    f"(this process itself received {a['seen_count_topic']} of them on {args.count_topic}, "
                    "sensor-data QoS; --count-topic image shows the loss of the images themselves)")
    return ok, bad, warn, notes


# ------------------------------------------------------------------------------------------------------------
# report


def report(args, rec, a, out_dir: Path) -> str:
    md = []
    setup = [["mode", args.mode], ["camera rate requested / measured (Hz)", f"{args.rate:g} / {a['camera_fps']:.2f}"],
             ["detection rate (Hz)", f"{args.detection_rate:g}"],
             ["live objects in the scene", f"{a['live_min']}..{a['live_max']}" if a["live_min"] != a["live_max"]
              else f"{a['live_max']}"],
             ["backend / device", f"{args.backend} / {args.device}"],
             ["iterations / tracking_iterations", f"{args.iterations or 'default'} / {args.tracking_iterations or 'default'}"],
             ["start-up: node ready / camera publishing / first refinement (s)",
              f"{rec.get('node_ready_s', float('nan')):.1f} / {rec.get('camera_ready_s', float('nan')):.1f} / "
              f"{rec.get('first_refine_s', float('nan')):.1f}"],
             ["warm-up after the first refinement (s)", f"{args.warmup:g}"],
             ["measured camera frames / span (s)", f"{a['frames']} / {a['span_s']:.1f}"]]
    md.append(md_table(["setting", "value"], setup))
    md.append(md_table(["latency (ms)", "n", "p50", "p90", "p99", "max", "mean"], [
        dist_row("**end-to-end: image stamp -> refined_detections received**", a["latency_ms"]),
        dist_row("image stamp -> refined_detections published by the node", a["latency_node_publish_ms"]),
        dist_row("image stamp -> benchmark callback ran", a["latency_callback_ms"]),
        dist_row("node total_ms (RefinementStatus)", a["total_ms"]),
        dist_row("node render_ms", a["render_ms"]),
        dist_row("node network_ms", a["network_ms"]),
        dist_row("camera: image stamp -> camera_info published", a["camera_stamp_to_publish_ms"]),
    ]))
    n = max(a["frames"], 1)
    md.append(md_table(["throughput", "value"], [
        ["camera frames (counted here)", a["frames"]],
        [f"... of which received here on {args.count_topic} (sensor-data QoS) / ground_truth (reliable)",
         f"{a['seen_count_topic']} / {a['seen_ground_truth']}"],
        ["refined frames (refined_detections)", a["refined"]],
        ["camera FPS / refined FPS", f"{a['camera_fps']:.2f} / {a['refined_fps']:.2f}"],
        ["dropped by the node (RefinementStatus.dropped_frames delta)", f"{a['dropped']} ({100.0 * a['dropped'] / n:.1f}%)"],
        ["unaccounted (frames - refined - dropped)", f"{a['unaccounted']} ({100.0 * a['unaccounted'] / n:.1f}%)"],
        ["track count max (status) / live objects max", f"{int(a['tracks'].max()) if len(a['tracks']) else '-'} / {a['live_max']}"],
        ["frames with tracks > live objects", a["tracks_over_live"]],
    ]))
    mem_rows = [["refiner_node", fmt_mb(a.get("rss_start")), fmt_mb(a.get("rss_end")), fmt_mb(a.get("rss_max")),
                 f"{a['rss_growth_pct']:+.2f}%" if "rss_growth_pct" in a else "-"]]
    if "rss_camera_start" in a:
        g = 100.0 * (a["rss_camera_end"] - a["rss_camera_start"]) / a["rss_camera_start"]
        mem_rows.append(["synthetic_camera", fmt_mb(a["rss_camera_start"]), fmt_mb(a["rss_camera_end"]),
                         fmt_mb(np.nanmax(a["rss_camera"])), f"{g:+.2f}%"])
    md.append(md_table(["RSS (MB)", "after warm-up", "end", "max", "growth"], mem_rows))
    if args.mode != "latency":
        md.append(f"Windows of {a['window']} camera frames (latency in ms):\n\n" + md_table(
            ["window", "frames", "refined", "dropped", "p50", "p99", "max", "max tracks"],
            [[w["index"], w["frames"], w["refined"], w["dropped"], f"{w['p50']:.0f}", f"{w['p99']:.0f}",
              f"{w['max']:.0f}", w["max_tracks"]] for w in a["windows"]]))
    text = "\n\n".join(md)
    return text


def plot(args, a, out_dir: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401

    title = machine()[:100]
    if args.mode == "latency":
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
        ax1.plot(a["result_times"], a["latency_ms"], ".", ms=3, label="end-to-end (stamp -> received)")
        if len(a["total_ms"]):
            ax1.plot(a["status_times"], a["total_ms"], ".", ms=3, label="node total_ms")
        ax1.set_xlabel("time after warm-up (s)")
        ax1.set_ylabel("ms")
        ax1.legend(fontsize=7)
        ax1.grid(alpha=0.3)
        if len(a["latency_ms"]):
            ax2.hist(a["latency_ms"], bins=40)
            for q, ls in ((50, "-"), (90, "--"), (99, ":")):
                ax2.axvline(pct(a["latency_ms"], q), color="k", ls=ls, lw=1, label=f"p{q} {pct(a['latency_ms'], q):.0f} ms")
            ax2.legend(fontsize=7)
        ax2.set_xlabel("end-to-end latency (ms)")
        ax2.set_ylabel("frames")
    else:
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
        ax = axes[0]
        if args.mode == "soak":
            ax.plot(a["rss_t"], a["rss_node"] / 2**20, label="refiner_node")
            ax.plot(a["rss_t"], a["rss_camera"] / 2**20, label="synthetic_camera", alpha=0.6)
            if "rss_start" in a:
                ax.axhline(a["rss_start"] * 1.05 / 2**20, color="r", ls="--", lw=1, label="node +5% limit")
            ax.axvline(0, color="k", lw=0.8)
            ax.set_xlabel("time after warm-up (s)")
            ax.set_ylabel("RSS (MB)")
            ax.set_title("resident memory")
        else:
            ax.plot(a["result_times"], a["latency_ms"], ".", ms=2, label="end-to-end latency (ms)")
            ax.set_xlabel("time after warm-up (s)")
            ax.set_ylabel("ms")
            ax.set_title("latency per refined frame")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        ax = axes[1]
        wins = a["windows"]
        x = [w["index"] for w in wins]
        ax.plot(x, [w["p99"] for w in wins], "o-", label="p99")
        ax.plot(x, [w["p50"] for w in wins], "s-", label="p50")
        ok = [w for w in wins if w["refined"]]
        if ok:
            ax.axhline(2 * ok[0]["p99"], color="r", ls="--", lw=1, label="2 x first window p99")
        ax.set_xlabel(f"window ({a['window']} camera frames)")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_ylabel("end-to-end latency (ms)")
        ax.set_title("latency per window")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        ax = axes[2]
        if args.mode == "soak":
            ax.step(a["status_times"], a["tracks"], where="post", label="track count")
            if a["live_max"] is not None:
                ax.axhline(a["live_max"], color="r", ls="--", lw=1, label="live objects")
            ax.set_ylabel("tracks")
            ax.set_title("tracks vs live objects")
        else:
            ax.plot(a["status_times"], a["status_dropped"], label="dropped (node, cumulative)")
            ax.plot(a["result_times"], np.arange(1, len(a["result_times"]) + 1), label="refined (cumulative)")
            ax.plot(a["frame_times"], np.arange(1, len(a["frame_times"]) + 1), label="camera frames (cumulative)")
            ax.set_ylabel("frames")
            ax.set_title("refined and dropped frames")
        ax.set_xlabel("time after warm-up (s)")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle(f"node benchmark ({args.mode}): {title}", fontsize=7)
    fig.tight_layout()
    path = out_dir / f"node_{args.mode}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def to_json(a: dict) -> dict:
    out = {}
    for k, v in a.items():
        if isinstance(v, np.ndarray):
            if v.size and k.endswith("_ms"):
                out[k] = {"n": int(v.size), "p50": pct(v, 50), "p90": pct(v, 90), "p99": pct(v, 99), "max": float(v.max())}
            continue
        out[k] = v
    return out
