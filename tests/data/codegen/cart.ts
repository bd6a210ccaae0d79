type EvaluationContext = { targetingKey?: string };

interface Client {
  getBooleanValue(key: string, fallback: boolean, context: EvaluationContext): Promise<boolean>;
  getStringValue(key: string, fallback: string, context: EvaluationContext): Promise<string>;
  getNumberValue(key: string, fallback: number, context: EvaluationContext): Promise<number>;
}

export class Cart {
  constructor(private readonly client: Client, private readonly items: number[]) {}

  /** The amount to charge: items plus shipping, free from 100. */
  async total(userId: string): Promise<number> {
    const client = this.client;
    const subtotal = this.items.reduce((sum, item) => sum + item, 0);
    const shipping = subtotal >= 100 ? 0 : 5;
    return subtotal + shipping;
  }
}
