"""Fetch a JSON document and print it compact, with orjson."""

import sys

import httpx
import orjson


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else "http://localhost:8000/"
    sys.stdout.buffer.write(orjson.dumps(httpx.get(url, timeout=10).json()) + b"\n")


if __name__ == "__main__":
    main()
