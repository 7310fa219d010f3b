"""The application layer: conversations and turns, settings and typed read models. Plain Python, no Streamlit."""
