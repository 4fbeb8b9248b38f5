"""Paging people where they are: their contact methods (`methods`), their notification rules
(`rules`), the notifications that carry a page, a verification code or a test to one method
(`notifications`), and the channels that deliver them (`channels/`, one module per kind of
method behind one small interface). The notify job (`engine/jobs/notify.py`) sends what is
due."""
