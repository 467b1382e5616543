"""The available pool: the numbers `GET /v2/available_phone_numbers` searches (docs/ordering.md,
"The available pool").

`stock.py`  what a pool number is, and the table of features, costs and pool sizes by country
            and type
`generate.py` a country's pool made from phonenumbers' metadata, the same on every machine
`load.py`   an operator's own stock read from a file (`numbers-api available-numbers load`)
"""
