"""The Streamlit app: the router, its pages (views/) and the widgets they share."""
