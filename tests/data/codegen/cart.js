import { client } from './flags.js';

export class Cart {
  constructor(items) {
    this.items = items;
  }

  async total(userId) {
    const subtotal = this.items.reduce((sum, item) => sum + item, 0);
    const shipping = subtotal >= 100 ? 0 : 5;
    return `${subtotal + shipping}`;
  }
}
