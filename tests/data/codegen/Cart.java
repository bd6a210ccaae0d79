interface EvaluationContext {}

final class ImmutableContext implements EvaluationContext {
    ImmutableContext(String targetingKey) {}
}

interface Client {
    boolean getBooleanValue(String key, boolean fallback, EvaluationContext context);
    String getStringValue(String key, String fallback, EvaluationContext context);
    int getIntegerValue(String key, int fallback, EvaluationContext context);
    double getDoubleValue(String key, double fallback, EvaluationContext context);
}

public class Cart {
    private final int[] items;

    public Cart(int[] items) {
        this.items = items;
    }

    /** The amount to charge: items plus shipping, free from 100. */
    public int total(Client client, String userId) {
        // "subtotal" first
        int subtotal = 0;
        for (int item : items) {
            subtotal += item;
        }
        int shipping = subtotal >= 100 ? 0 : 5;
        return subtotal + shipping;
    }
}
