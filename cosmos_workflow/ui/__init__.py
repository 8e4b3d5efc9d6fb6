"""The Gradio UI. Imported only by `cosmos serve`: Gradio is slow to import."""
