using System;
using System.Linq;
using System.Threading.Tasks;

public class EvaluationContext
{
    public static EvaluationContextBuilder Builder() => new EvaluationContextBuilder();
}

public class EvaluationContextBuilder
{
    public EvaluationContextBuilder SetTargetingKey(string key) => this;
    public EvaluationContext Build() => new EvaluationContext();
}

public class FeatureClient
{
    public Task<bool> GetBooleanValueAsync(string key, bool fallback, EvaluationContext context) => Task.FromResult(fallback);
    public Task<string> GetStringValueAsync(string key, string fallback, EvaluationContext context) => Task.FromResult(fallback);
    public Task<int> GetIntegerValueAsync(string key, int fallback, EvaluationContext context) => Task.FromResult(fallback);
    public Task<double> GetDoubleValueAsync(string key, double fallback, EvaluationContext context) => Task.FromResult(fallback);
}

public class Cart
{
    private readonly int[] items;

    public Cart(int[] items)
    {
        this.items = items;
    }

    /// <summary>The amount to charge: items plus shipping, free from 100.</summary>
    public async Task<int> Total(FeatureClient client, string userId)
    {
        var subtotal = items.Sum();
        var shipping = subtotal >= 100 ? 0 : 5;
        return subtotal + shipping;
    }
}
