"""TEMPORARY stand-in (replaced by the inert branch): keep outputs by a MIME allowlist."""
ALLOWED_MIME = ("text/plain", "image/png")

def inert_outputs(outputs):
    kept = []
    for o in outputs:
        kind = o.get("output_type")
        if kind in ("display_data", "execute_result"):
            data = {k: v for k, v in o.get("data", {}).items() if k in ALLOWED_MIME}
            if not data:
                continue
            o["data"], o["metadata"] = data, {}
            o.pop("transient", None)
        elif kind not in ("stream", "error"):
            continue
        kept.append(o)
    return kept
