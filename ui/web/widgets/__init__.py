"""What the pages share: view.py (untrusted text drawn safely), login.py (the password gate), reviewer.py (this
browser session's reviewer name), and one sub-package per feature: conversations/, experiments/, masks/, review/."""
