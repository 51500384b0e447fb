"""Streamlit dashboard: `claims dashboard` runs dashboard/app.py (the st.navigation router)."""
