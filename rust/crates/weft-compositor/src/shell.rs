//! Shell policy: one panel along the top edge, the focused application window
//! filling the rest, the others hidden until focused. Pure layout, with no
//! Wayland types, so its rules are tested on their own.

use smithay::utils::{Logical, Rectangle, Size};

/// A window's place in the shell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// The system UI.
    Panel,
    /// A window of the app `app_id`.
    Application {
        /// The app it belongs to.
        app_id: String,
    },
}

/// Identifies a window for as long as the compositor runs.
pub type WindowId = u64;

/// The thinnest and thickest panel, in logical pixels.
const PANEL_THICKNESS: (i32, i32) = (1, 256);
/// The panel's thickness when it asks for none.
const DEFAULT_PANEL_THICKNESS: i32 = 48;

/// The windows in stacking order and which application window is focused.
#[derive(Debug, Default)]
pub struct Layout {
    output: Size<i32, Logical>,
    panel: Option<(WindowId, i32)>,
    /// Application windows, most recently focused last.
    applications: Vec<WindowId>,
}

impl Layout {
    /// An empty layout for an output of `size`.
    pub fn new(size: Size<i32, Logical>) -> Self {
        Self { output: size, ..Self::default() }
    }

    /// The output size.
    pub fn output_size(&self) -> Size<i32, Logical> {
        self.output
    }

    /// The output changed size (a window backend was resized).
    pub fn set_output_size(&mut self, size: Size<i32, Logical>) {
        self.output = size;
        let height = size.h;
        if let Some((_, thickness)) = &mut self.panel {
            *thickness = clamp_thickness(*thickness, height);
        }
    }

    /// Adds the panel, asking for `thickness`. Returns false if one exists.
    pub fn add_panel(&mut self, window: WindowId, thickness: i32) -> bool {
        if self.panel.is_some() {
            return false;
        }
        self.panel = Some((window, clamp_thickness(thickness, self.output.h)));
        true
    }

    /// Changes the panel's thickness.
    pub fn set_panel_thickness(&mut self, thickness: i32) {
        let height = self.output.h;
        if let Some((_, current)) = &mut self.panel {
            *current = clamp_thickness(thickness, height);
        }
    }

    /// Adds an application window; it takes the focus.
    pub fn add_application(&mut self, window: WindowId) {
        self.applications.retain(|&other| other != window);
        self.applications.push(window);
    }

    /// Removes a window of either role.
    pub fn remove(&mut self, window: WindowId) {
        if self.panel.is_some_and(|(panel, _)| panel == window) {
            self.panel = None;
        }
        self.applications.retain(|&other| other != window);
    }

    /// Focuses an application window.
    pub fn focus(&mut self, window: WindowId) -> bool {
        if !self.applications.contains(&window) {
            return false;
        }
        self.add_application(window);
        true
    }

    /// Focuses the application window that was focused longest ago (Super+Tab).
    pub fn cycle(&mut self) -> Option<WindowId> {
        if self.applications.len() < 2 {
            return self.focused();
        }
        let oldest = self.applications.remove(0);
        self.applications.push(oldest);
        Some(oldest)
    }

    /// The focused application window.
    pub fn focused(&self) -> Option<WindowId> {
        self.applications.last().copied()
    }

    /// The panel, if there is one.
    pub fn panel(&self) -> Option<WindowId> {
        self.panel.map(|(panel, _)| panel)
    }

    /// Where a window goes, or `None` while it is hidden.
    pub fn geometry(&self, window: WindowId) -> Option<Rectangle<i32, Logical>> {
        let panel_thickness = self.panel.map_or(0, |(_, thickness)| thickness);
        match self.panel {
            Some((panel, thickness)) if panel == window => {
                Some(Rectangle::new((0, 0).into(), (self.output.w, thickness).into()))
            }
            _ if self.focused() == Some(window) => Some(Rectangle::new(
                (0, panel_thickness).into(),
                (self.output.w, self.output.h - panel_thickness).into(),
            )),
            _ => None,
        }
    }

    /// The windows to draw, bottom first: the focused application, then the panel.
    pub fn visible(&self) -> Vec<WindowId> {
        self.focused().into_iter().chain(self.panel()).collect()
    }
}

fn clamp_thickness(thickness: i32, output_height: i32) -> i32 {
    let thickness = if thickness <= 0 { DEFAULT_PANEL_THICKNESS } else { thickness };
    thickness.clamp(PANEL_THICKNESS.0, PANEL_THICKNESS.1.min(output_height / 2).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_panel_takes_the_top_and_the_focused_app_the_rest() {
        let mut layout = Layout::new((1280, 800).into());
        layout.add_application(1);
        assert_eq!(layout.geometry(1), Some(Rectangle::new((0, 0).into(), (1280, 800).into())));
        assert!(layout.add_panel(2, 40));
        assert!(!layout.add_panel(3, 40), "one panel only");
        assert_eq!(layout.geometry(2), Some(Rectangle::new((0, 0).into(), (1280, 40).into())));
        assert_eq!(layout.geometry(1), Some(Rectangle::new((0, 40).into(), (1280, 760).into())));
        layout.add_application(4);
        assert_eq!(layout.geometry(1), None, "an unfocused app is hidden");
        assert_eq!(layout.visible(), [4, 2]);
        assert_eq!(layout.cycle(), Some(1));
        assert_eq!(layout.visible(), [1, 2]);
        layout.remove(1);
        assert_eq!(layout.focused(), Some(4));
        layout.set_panel_thickness(100_000);
        assert_eq!(layout.geometry(2).unwrap().size.h, 256, "the panel cannot cover the screen");
    }
}
