"""Comparison servers for bench/http_bench.py: FastAPI on uvicorn, and the do-nothing ceiling."""
