"""Example host applications (they import only plugin_sdk)."""
