"""Number orders: what an order's numbers need (requirements.py), the order made (orders.py), and
each worker's runner that completes orders in the background (runner.py)."""
