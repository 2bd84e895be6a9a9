"""Print how many items a service lists."""

import sys

import attrs
import requests


@attrs.frozen
class Count:
    url: str
    items: int


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else "http://localhost:8000/items"
    print(Count(url, len(requests.get(url, timeout=10).json())))


if __name__ == "__main__":
    main()
