"""What a ``shards_url`` may be (rerankwatch.store.shared reaches it): a path, ``file://`` or
``s3://bucket/prefix``, never with credentials or parameters in it."""

from __future__ import annotations

from urllib.parse import urlsplit

SCHEMES = ("s3", "file")


def check_url(url: str) -> None:
    """Raise ValueError for a URL rerankwatch cannot use, or one that holds a credential."""
    if "://" not in url:
        return  # a local or network path
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ValueError(f"unsupported scheme {parts.scheme!r}; use a path, file://, or "
                         f"s3://bucket/prefix")
    if "@" in parts.netloc or parts.query or parts.fragment:
        raise ValueError("it holds credentials or parameters: give the bucket and prefix "
                         "only; the endpoint and keys come from the environment "
                         "(AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)")
    if parts.scheme == "s3" and not parts.netloc:
        raise ValueError("s3:// needs a bucket (s3://bucket/prefix)")
