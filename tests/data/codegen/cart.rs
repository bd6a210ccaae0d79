//! Cart totals, with stubs of the OpenFeature types the guard uses.

#[derive(Default)]
pub struct EvaluationContext;

impl EvaluationContext {
    pub fn with_targeting_key(self, _key: impl Into<String>) -> Self {
        self
    }
}

pub struct Client;

type Options = Option<()>;

impl Client {
    pub async fn get_bool_value(&self, _: &str, _: Option<&EvaluationContext>, _: Options) -> Result<bool, ()> {
        Ok(false)
    }
    pub async fn get_string_value(&self, _: &str, _: Option<&EvaluationContext>, _: Options) -> Result<String, ()> {
        Ok(String::new())
    }
    pub async fn get_int_value(&self, _: &str, _: Option<&EvaluationContext>, _: Options) -> Result<i64, ()> {
        Ok(0)
    }
    pub async fn get_float_value(&self, _: &str, _: Option<&EvaluationContext>, _: Options) -> Result<f64, ()> {
        Ok(0.0)
    }
}

pub struct Cart {
    items: Vec<u32>,
}

impl Cart {
    /// The amount to charge: items plus shipping, free from 100.
    pub async fn total(&self, client: &Client, user_id: &str) -> u32 {
        let subtotal: u32 = self.items.iter().sum();
        let shipping = if subtotal >= 100 { 0 } else { 5 };
        subtotal + shipping
    }
}
