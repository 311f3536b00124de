"""The on-device update agent: fetch, verify, stage, health-check, switch, watch, commit or roll back.

``contract`` holds the types every piece shares; ``layout`` the models folder that
``edgeloop serve --models DIR`` and ``edgeloop run --models DIR`` follow.
"""
