pub mod grafana;
