"""The page scripts st.navigation runs (a package so that a wheel ships them)."""
