"""Sync to an edgeloop hub over HTTP (docs/hub/sync.md; the API is the hub contract).

One sample: ``POST /api/v1/samples`` (multipart ``meta`` + ``image``) with
``Idempotency-Key: <sha256>``. Several (``batch`` > 1): ``POST /api/v1/samples/batch``
(at most 64 items / 32 MiB), falling back to single uploads if the hub has no
batch route or refuses the batch as a whole. Files above ``resumable_above_bytes``:
``POST /api/v1/uploads`` then ``PATCH`` chunks from the hub's ``Upload-Offset``, so a
restart resumes where the hub stopped.

Answers: 201/200 stored/duplicate; 401, 403, 404, 405, 3xx stop sync (a setting is
wrong: ``TargetRefused``); 408, 425, 429 and 5xx are retried with back-off; any other
4xx rejects that sample for good.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from edgeloop.errors import ConfigError
from edgeloop.improve.bandwidth import Throttle
from edgeloop.improve.sync_targets import TargetOptions
from edgeloop.improve.sync_targets.base import (
    Item,
    Result,
    TargetRefused,
    TargetUnavailable,
    hub_meta,
)
from edgeloop.improve.sync_targets.http import Client, Response, multipart

BATCH_MAX_ITEMS = 64
BATCH_MAX_BYTES = 32 * 2**20
CHUNK_BYTES = 2**20
RETRY_CODES = frozenset({408, 425, 429})


class HubTarget:
    """An edgeloop hub, reached with a device token."""

    def __init__(self, options: TargetOptions) -> None:
        if not options.token:
            raise ConfigError(
                "--hub needs the device's token: set EDGELOOP_HUB_TOKEN (or pass --token); "
                "the hub's admin creates one with: edgeloop hub device add NAME"
            )
        self.client = Client(options.location, options.token, options.timeout_s)
        self.description = self.client.display
        self.max_batch = max(1, min(options.batch, BATCH_MAX_ITEMS))
        self.resumable_above_bytes = options.resumable_above_bytes
        self._batch_route = True

    def send(self, items: Sequence[Item], throttle: Throttle) -> list[Result]:
        large = [i for i in items if len(i.data) > self.resumable_above_bytes]
        small = [i for i in items if len(i.data) <= self.resumable_above_bytes]
        by_sha: dict[str, Result] = {}
        if len(small) > 1 and self._batch_route:
            for group in _groups(small):
                by_sha.update((r.sha256, r) for r in self._send_batch(group, throttle))
        else:
            by_sha.update((i.sha256, self._send_one(i, throttle)) for i in small)
        by_sha.update((i.sha256, self._send_resumable(i, throttle)) for i in large)
        return [by_sha[i.sha256] for i in items]

    def _send_one(self, item: Item, throttle: Throttle) -> Result:
        body, content_type = multipart(_parts(item, with_sha=False))
        headers = [("Content-Type", content_type), ("Idempotency-Key", item.sha256)]
        response = self.client.request("POST", "/api/v1/samples", body, headers, throttle)
        return self._result(item.sha256, response, "POST /api/v1/samples")

    def _send_batch(self, items: Sequence[Item], throttle: Throttle) -> list[Result]:
        parts = [part for item in items for part in _parts(item, with_sha=True)]
        body, content_type = multipart(parts)
        response = self.client.request(
            "POST", "/api/v1/samples/batch", body, [("Content-Type", content_type)], throttle
        )
        if response.status in (404, 405) or (400 <= response.status < 500 and _item_level(response.status)):
            # No batch route (an older hub), or the batch refused as a whole: send one by one.
            self._batch_route = response.status not in (404, 405)
            return [self._send_one(i, throttle) for i in items]
        if response.status != 200:
            self._raise_for(response, "POST /api/v1/samples/batch")
        answers = (response.json() or {}).get("results")
        if not isinstance(answers, list) or len(answers) != len(items):
            raise TargetUnavailable(f"{self.description}: the batch answer does not list every item")
        results = []
        for item, answer in zip(items, answers, strict=True):
            code = int(answer.get("code", 0)) if isinstance(answer, dict) else 0
            detail = str(answer.get("error", "")) if isinstance(answer, dict) else ""
            results.append(_item_result(item.sha256, code, detail))
        return results

    def _send_resumable(self, item: Item, throttle: Throttle) -> Result:
        meta = {"sha256": item.sha256, "size": len(item.data), "meta": hub_meta(item.sample)}
        created = self.client.request(
            "POST", "/api/v1/uploads", json.dumps(meta).encode(), [("Content-Type", "application/json")]
        )
        if created.status != 201:  # 200: the hub holds the image already; else an error
            return self._result(item.sha256, created, "POST /api/v1/uploads")
        answer = created.json() or {}
        upload_id, offset = str(answer.get("id", "")), int(answer.get("offset", 0))
        if not upload_id:
            raise TargetUnavailable(f"{self.description}: POST /api/v1/uploads answered without an id")
        while True:
            chunk = item.data[offset : offset + CHUNK_BYTES]
            response = self.client.request(
                "PATCH",
                f"/api/v1/uploads/{upload_id}",
                chunk,
                [("Upload-Offset", str(offset)), ("Content-Type", "application/offset+octet-stream")],
                throttle,
            )
            if response.status == 204:
                offset = int(response.headers.get("upload-offset", offset + len(chunk)))
            elif response.status == 409:  # the hub holds another offset: ask where it is
                head = self.client.request("HEAD", f"/api/v1/uploads/{upload_id}")
                if head.status != 204:
                    return self._result(item.sha256, head, "HEAD /api/v1/uploads")
                offset = int(head.headers.get("upload-offset", 0))
            else:
                return self._result(item.sha256, response, "PATCH /api/v1/uploads")

    def _result(self, sha: str, response: Response, route: str) -> Result:
        if response.status in (200, 201):
            return Result(sha, "stored" if response.status == 201 else "duplicate", response.status)
        if not _item_level(response.status):
            self._raise_for(response, route)
        return Result(sha, "rejected", response.status, response.error())

    def _raise_for(self, response: Response, route: str) -> None:
        code, where = response.status, self.description
        if code == 401:
            raise TargetRefused(
                f"{where} refused the token (401): it is wrong or was revoked; ask the hub's admin "
                "for a new one (edgeloop hub device add NAME) and set EDGELOOP_HUB_TOKEN",
                401,
            )
        if code == 403:
            raise TargetRefused(
                f"{where} does not let this token upload samples (403): use a device token "
                "(edgeloop hub device add NAME), not an admin token",
                403,
            )
        if code in (404, 405) or 300 <= code < 400:
            moved = response.headers.get("location")
            hint = f" (it points to {moved})" if moved else ""
            raise TargetRefused(
                f"{where} has no {route} ({code}){hint}: check --hub, the hub's base URL "
                "(e.g. http://hub.local:8000)",
                code,
            )
        raise TargetUnavailable(f"{where} answered {code} to {route}: {response.error()}")

    def close(self) -> None:
        self.client.close()


def _item_level(code: int) -> bool:
    """A 4xx that is about the sample itself (reject it), not about the request or the settings."""
    return 400 <= code < 500 and code not in RETRY_CODES and code not in (401, 403, 404, 405)


def _item_result(sha: str, code: int, detail: str) -> Result:
    if code in (200, 201):
        return Result(sha, "stored" if code == 201 else "duplicate", code)
    if _item_level(code):
        return Result(sha, "rejected", code, detail)
    return Result(sha, "retry", code, detail)  # 5xx, 429 or an unknown answer for this item


def _parts(item: Item, with_sha: bool) -> list[tuple[str, str, str, bytes]]:
    meta = hub_meta(item.sample) | ({"sha256": item.sha256} if with_sha else {})
    return [
        ("meta", "", "application/json", json.dumps(meta, separators=(",", ":")).encode()),
        ("image", f"{item.sha256}.jpg", "image/jpeg", item.data),
    ]


def _groups(items: Sequence[Item]) -> list[list[Item]]:
    """Batches of at most ``BATCH_MAX_ITEMS`` items and about ``BATCH_MAX_BYTES`` (less headroom)."""
    groups: list[list[Item]] = [[]]
    size = 0
    for item in items:
        if groups[-1] and (
            len(groups[-1]) >= BATCH_MAX_ITEMS or size + len(item.data) > BATCH_MAX_BYTES - 2**20
        ):
            groups.append([])
            size = 0
        groups[-1].append(item)
        size += len(item.data)
    return groups
