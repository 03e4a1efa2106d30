"""A local stand-in for the outside world: Slack, Figma, Notion, Gmail, Calendar, Sheets and an LLM.

Imports nothing of the product. Start it in-process with
:class:`sandbox.server.SandboxServer` or as ``python -m sandbox``; steer it
with :class:`sandbox.control.SandboxControl`.
"""
