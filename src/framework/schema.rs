//! Schemas: what attributes and blocks a provider, resource, data source or ephemeral
//! resource has, how each behaves, and how it is documented.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::plan_modifier::PlanModifier;
use super::types::Type;
use super::validator::Validator;
use super::value::Value;

/// The schema of one Terraform type (or of the provider's configuration).
#[derive(Clone, Default)]
pub struct Schema {
    /// Bumped whenever stored state needs an upgrade.
    pub version: i64,
    /// Markdown shown in docs and editors.
    pub description: String,
    /// Attributes, in the order the docs list them.
    pub attributes: Vec<Attribute>,
    /// Nested blocks (`postgres { ... }`).
    pub blocks: Vec<Block>,
}

impl Schema {
    /// A schema with these attributes and a Markdown description.
    pub fn new(description: impl Into<String>, attributes: Vec<Attribute>) -> Schema {
        Schema { version: 0, description: description.into(), attributes, blocks: Vec::new() }
    }

    /// Adds nested blocks.
    pub fn with_blocks(mut self, blocks: Vec<Block>) -> Schema {
        self.blocks = blocks;
        self
    }

    /// Sets the state version.
    pub fn with_version(mut self, version: i64) -> Schema {
        self.version = version;
        self
    }

    /// The cty object type of values of this schema.
    pub fn value_type(&self) -> Type {
        block_type(&self.attributes, &self.blocks)
    }

    /// The attribute called `name`, if any.
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }
}

fn block_type(attributes: &[Attribute], blocks: &[Block]) -> Type {
    let mut fields: BTreeMap<String, Type> = attributes.iter().map(|a| (a.name.to_owned(), a.value_type())).collect();
    for b in blocks {
        let inner = block_type(&b.attributes, &b.blocks);
        let t = match b.nesting {
            BlockNesting::Single => inner,
            BlockNesting::List => Type::list(inner),
        };
        fields.insert(b.name.to_owned(), t);
    }
    Type::Object(fields)
}

/// What an attribute holds: a plain cty type, or nested attributes.
#[derive(Clone)]
pub enum AttributeType {
    /// A value of this type.
    Plain(Type),
    /// One object of nested attributes (nesting mode SINGLE).
    NestedSingle(Vec<Attribute>),
}

/// How a nested block repeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockNesting {
    /// At most one block; absent means null.
    Single,
    /// Any number of blocks, in order.
    List,
}

/// A nested block of a schema.
#[derive(Clone)]
pub struct Block {
    /// The block's name.
    pub name: &'static str,
    /// Markdown description.
    pub description: String,
    /// How many there may be.
    pub nesting: BlockNesting,
    /// Its attributes.
    pub attributes: Vec<Attribute>,
    /// Blocks nested in it.
    pub blocks: Vec<Block>,
}

impl Block {
    /// A block that appears at most once.
    pub fn single(name: &'static str, description: impl Into<String>, attributes: Vec<Attribute>) -> Block {
        Block { name, description: description.into(), nesting: BlockNesting::Single, attributes, blocks: Vec::new() }
    }

    /// Adds blocks nested in this one.
    pub fn with_blocks(mut self, blocks: Vec<Block>) -> Block {
        self.blocks = blocks;
        self
    }
}

/// One attribute: its type, whether the user or the provider sets it, how it is shown,
/// validated and planned.
#[derive(Clone)]
pub struct Attribute {
    /// The attribute's name.
    pub name: &'static str,
    /// Its type.
    pub kind: AttributeType,
    /// Markdown description.
    pub description: String,
    /// The user must set it.
    pub required: bool,
    /// The user may set it.
    pub optional: bool,
    /// The provider sets it (when the user does not).
    pub computed: bool,
    /// Shown as `(sensitive value)` and kept out of logs.
    pub sensitive: bool,
    /// Never stored in plan or state (Terraform 1.11+).
    pub write_only: bool,
    /// Deprecated; the description says what to use instead.
    pub deprecated: bool,
    /// The value planned when the configuration leaves it null (needs optional + computed).
    pub default: Option<Value>,
    /// Checks on known, non-null values; all run, errors accumulate.
    pub validators: Vec<Arc<dyn Validator>>,
    /// Plan modifiers, run in order; an error stops the chain.
    pub plan_modifiers: Vec<Arc<dyn PlanModifier>>,
}

impl Attribute {
    /// An attribute of type `ty`; by default optional, until [`Attribute::required`] or
    /// [`Attribute::computed`] says otherwise.
    pub fn new(name: &'static str, ty: Type) -> Attribute {
        Attribute {
            name,
            kind: AttributeType::Plain(ty),
            description: String::new(),
            required: false,
            optional: true,
            computed: false,
            sensitive: false,
            write_only: false,
            deprecated: false,
            default: None,
            validators: Vec::new(),
            plan_modifiers: Vec::new(),
        }
    }

    /// A string attribute.
    pub fn string(name: &'static str) -> Attribute {
        Attribute::new(name, Type::String)
    }

    /// A number attribute.
    pub fn number(name: &'static str) -> Attribute {
        Attribute::new(name, Type::Number)
    }

    /// A bool attribute.
    pub fn bool(name: &'static str) -> Attribute {
        Attribute::new(name, Type::Bool)
    }

    /// An attribute holding one object of nested attributes.
    pub fn nested(name: &'static str, attributes: Vec<Attribute>) -> Attribute {
        Attribute { kind: AttributeType::NestedSingle(attributes), ..Attribute::new(name, Type::Dynamic) }
    }

    /// The user must set it.
    pub fn required(mut self) -> Attribute {
        self.required = true;
        self.optional = false;
        self.computed = false;
        self
    }

    /// Only the provider sets it.
    pub fn computed(mut self) -> Attribute {
        self.computed = true;
        self.optional = false;
        self.required = false;
        self
    }

    /// The user may set it; otherwise the provider does (needed for defaults).
    pub fn optional_computed(mut self) -> Attribute {
        self.computed = true;
        self.optional = true;
        self.required = false;
        self
    }

    /// Markdown description.
    pub fn description(mut self, text: impl Into<String>) -> Attribute {
        self.description = text.into();
        self
    }

    /// Marks it sensitive.
    pub fn sensitive(mut self) -> Attribute {
        self.sensitive = true;
        self
    }

    /// Marks it write-only: accepted in configuration, never stored.
    pub fn write_only(mut self) -> Attribute {
        self.write_only = true;
        self
    }

    /// The value to plan when the configuration leaves it null; makes it optional + computed.
    pub fn default(mut self, value: Value) -> Attribute {
        self.default = Some(value);
        self.optional_computed()
    }

    /// Adds a validator.
    pub fn validator(mut self, v: impl Validator + 'static) -> Attribute {
        self.validators.push(Arc::new(v));
        self
    }

    /// Adds a plan modifier.
    pub fn plan_modifier(mut self, m: impl PlanModifier + 'static) -> Attribute {
        self.plan_modifiers.push(Arc::new(m));
        self
    }

    /// The cty type of this attribute's values.
    pub fn value_type(&self) -> Type {
        match &self.kind {
            AttributeType::Plain(t) => t.clone(),
            AttributeType::NestedSingle(attrs) => block_type(attrs, &[]),
        }
    }
}

/// The identity of a managed resource (Terraform 1.12+): the few values that name one
/// instance, so `import` blocks can use `identity = {...}` instead of an id string.
#[derive(Clone, Debug)]
pub struct IdentitySchema {
    /// Bumped when the identity's shape changes.
    pub version: i64,
    /// `(name, type, required_for_import, description)`.
    pub attributes: Vec<IdentityAttribute>,
}

/// One attribute of an identity.
#[derive(Clone, Debug)]
pub struct IdentityAttribute {
    /// Its name.
    pub name: &'static str,
    /// Its type.
    pub ty: Type,
    /// Whether an import by identity must give it.
    pub required_for_import: bool,
    /// Markdown description.
    pub description: &'static str,
}

impl IdentitySchema {
    /// The cty object type of identity values.
    pub fn value_type(&self) -> Type {
        Type::Object(self.attributes.iter().map(|a| (a.name.to_owned(), a.ty.clone())).collect())
    }
}
