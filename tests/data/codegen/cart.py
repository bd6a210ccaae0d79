"""Cart totals."""


class Cart:
    def __init__(self, items):
        self.items = items

    def total(self, client, user_id):
        subtotal = sum(self.items)
        shipping = 0 if subtotal >= 100 else 5
        return subtotal + shipping
